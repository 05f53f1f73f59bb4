"""Bad raw input: each case gives a clear error or a quarantine, never a silent result."""

import datetime as dt

import pandas as pd
import pytest

from nightjar.embedded.demo_data import DemoSpec, applications_for
from nightjar.ingest.validation import (
    PARTITION_COLUMN,
    DataValidationError,
    validate_features,
    validate_raw,
)

DAY = dt.date(2026, 1, 5)


@pytest.fixture
def batch() -> pd.DataFrame:
    return applications_for(DAY, DemoSpec(rows_per_day=500)).assign(**{PARTITION_COLUMN: DAY})


def _validate(config, frame, share=0.05):
    return validate_raw(
        frame,
        name="applications",
        source=config.sources["applications"],
        event_time=config.event_time,
        max_quarantine_share=share,
        batch=str(DAY),
        timezone=config.timezone,
    )


def test_a_clean_batch_passes(config, batch):
    result = _validate(config, batch)
    assert len(result.valid) == len(batch) and result.quarantined.empty


def test_missing_column_is_a_schema_break(config, batch):
    with pytest.raises(DataValidationError, match=r"(?s)schema break.*missing column.*'income'"):
        _validate(config, batch.drop(columns=["income"]))


def test_extra_column_is_a_schema_break(config, batch):
    with pytest.raises(DataValidationError, match=r"unexpected column.*'surprise'"):
        _validate(config, batch.assign(surprise=1))


def test_wrong_type_is_a_schema_break(config, batch):
    with pytest.raises(DataValidationError, match=r"column 'income' has type"):
        _validate(config, batch.assign(income=batch["income"].astype(str)))


def test_empty_batch_fails(config, batch):
    with pytest.raises(DataValidationError, match="empty batch"):
        _validate(config, batch.head(0))


@pytest.mark.parametrize(
    ("mutate", "rule"),
    [
        (
            lambda f: f.loc[[1, 2], "application_id"].pipe(
                lambda _: f.__setitem__(
                    "application_id", f["application_id"].where(f.index != 2, None)
                )
            ),
            "application_id:not_nullable",
        ),
        (
            lambda f: f.__setitem__("income", f["income"].where(f.index != 2, -1.0)),
            "income:greater_than_or_equal_to",
        ),
        (lambda f: f.__setitem__("region", f["region"].where(f.index != 2, "mars")), "region:isin"),
        (
            lambda f: f.__setitem__(
                "event_ts",
                f["event_ts"].where(f.index != 2, pd.Timestamp(DAY) + pd.Timedelta(days=3)),
            ),
            "event_time_on_batch_date",
        ),
    ],
    ids=["null key", "out of range", "unseen category", "future timestamp"],
)
def test_row_rule_breaks_are_quarantined_with_rule_and_reason(config, batch, mutate, rule):
    mutate(batch)
    result = _validate(config, batch)
    assert len(result.quarantined) == 1
    assert rule in result.quarantined.iloc[0]["rule"]
    assert result.quarantined.iloc[0]["reason"]
    assert len(result.valid) == len(batch) - 1


def test_duplicate_entities_are_quarantined(config, batch):
    batch.loc[3, "application_id"] = batch.loc[4, "application_id"]
    result = _validate(config, batch)
    assert len(result.quarantined) == 2
    assert result.quarantined["rule"].str.contains("uniqueness").all()


def test_too_many_bad_rows_fail_the_batch_naming_column_rule_and_count(config, batch):
    batch.loc[:99, "income"] = -1.0
    with pytest.raises(DataValidationError) as error:
        _validate(config, batch)
    message = str(error.value)
    assert "100 of 500 rows" in message and "'income'" in message
    assert "greater_than_or_equal_to" in message


def _feature_rows(config, n: int = 4) -> pd.DataFrame:
    """Features that pass every rule of the demo config."""

    def passing(spec):
        if spec.type == "string":
            return "north"
        value = spec.min if spec.min is not None else 1
        return float(value) if spec.type == "float" else int(value)

    frame = pd.DataFrame({name: [passing(spec)] * n for name, spec in config.features.items()})
    return frame.assign(**{config.entity_key: [f"app-{i}" for i in range(n)]})


def _broken_features(config) -> pd.DataFrame:
    """Two rows below the ratio's minimum of 0, one missing a non-nullable feature."""
    frame = _feature_rows(config)
    frame.loc[[0, 1], "monthly_payment_ratio"] = -0.5
    frame.loc[2, "income_log"] = None
    return frame


def test_collected_features_pass_or_fail_naming_column_rule_and_count(config):
    import pyarrow

    validate_features(config, pyarrow.Table.from_pandas(_feature_rows(config)))
    with pytest.raises(DataValidationError) as failure:
        validate_features(config, pyarrow.Table.from_pandas(_broken_features(config)))
    message = str(failure.value)
    assert "4 feature rows fail validation, nothing was written" in message
    assert (
        "column 'monthly_payment_ratio', rule greater_than_or_equal_to(0.0): 2 failing" in message
    )
    assert "column 'income_log', rule not_nullable: 1 failing" in message


def test_spark_features_are_held_to_the_same_rules(config, spark):
    validate_features(config, spark.createDataFrame(_feature_rows(config)))
    with pytest.raises(DataValidationError) as failure:
        validate_features(config, spark.createDataFrame(_broken_features(config)))
    message = str(failure.value)
    assert "column 'monthly_payment_ratio', rule greater_than_or_equal_to(0.0)" in message
    assert "column 'income_log', rule not_nullable" in message


def test_aware_timestamps_become_the_datasets_wall_clock(config, batch):
    naive = batch["event_ts"].copy()
    aware = batch.assign(event_ts=naive.dt.tz_localize("UTC").dt.tz_convert("America/New_York"))
    result = _validate(config, aware)
    assert result.quarantined.empty
    assert result.valid["event_ts"].dtype == "datetime64[ns]"
    assert result.valid["event_ts"].tolist() == naive.tolist()


def test_a_datasets_own_time_zone_decides_an_events_date(config, batch):
    """22:30 in Paris is 21:30 UTC: on a dataset in Paris time it belongs to that day,
    while 00:30 the next day in Paris (23:30 UTC) is after the batch's date there."""
    late = pd.Timestamp(DAY).tz_localize("UTC") + pd.Timedelta(hours=23, minutes=30)
    noon = pd.Timestamp(DAY).tz_localize("UTC") + pd.Timedelta(hours=12)
    batch["event_ts"] = pd.Series([noon] * len(batch))
    batch.loc[0, "event_ts"] = late
    paris = config.model_copy(update={"timezone": "Europe/Paris"})
    assert len(_validate(config, batch).quarantined) == 0
    quarantined = _validate(paris, batch).quarantined
    assert len(quarantined) == 1 and "event_time_on_batch_date" in quarantined.iloc[0]["rule"]


def test_parquet_dates_are_accepted_as_dates(config, batch):
    import pyarrow

    source = config.sources["applications"]
    dated = source.model_copy(
        update={
            "columns": {
                **source.columns,
                "event_ts": source.columns["event_ts"].model_copy(update={"type": "date"}),
            }
        }
    )
    frame = batch.assign(event_ts=batch["event_ts"].dt.date)
    frame = pyarrow.Table.from_pandas(frame, preserve_index=False).to_pandas()
    assert frame["event_ts"].dtype == object
    result = validate_raw(
        frame,
        name="applications",
        source=dated,
        event_time="event_ts",
        max_quarantine_share=0.05,
        batch=str(DAY),
    )
    assert result.quarantined.empty and result.valid["event_ts"].dtype == "datetime64[ns]"


def test_a_late_event_is_reported_on_its_column_only(config, batch):
    batch["event_ts"] = batch["event_ts"].where(
        batch.index >= 100, pd.Timestamp(DAY) + pd.Timedelta(days=2)
    )
    with pytest.raises(DataValidationError) as failure:
        _validate(config, batch)
    message = str(failure.value)
    assert "column 'event_ts', rule event_time_on_batch_date: 100 failing" in message
    assert "'income'" not in message and "'region'" not in message


def test_an_unknown_time_zone_is_a_config_error(config):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        config.model_validate({**config.model_dump(), "timezone": "Mars/Olympus"})


def test_a_source_may_ignore_columns_it_does_not_declare(config, batch):
    source = config.sources["applications"].model_copy(update={"ignore_extra": True})
    wider = batch.assign(internal_note="x", ingest_host="etl-7")
    result = validate_raw(
        wider,
        name="applications",
        source=source,
        event_time=config.event_time,
        max_quarantine_share=0.05,
        batch=str(DAY),
    )
    assert result.quarantined.empty
    assert not {"internal_note", "ingest_host"} & set(result.valid.columns)


def test_features_that_repeat_an_entity_name_the_joined_sources(config):
    import pyarrow

    doubled = pd.concat([_feature_rows(config), _feature_rows(config).head(2)])
    repeated = r"2 of 6 feature rows repeat an entity \(application_id\)"
    with pytest.raises(DataValidationError, match=repeated):
        validate_features(config, pyarrow.Table.from_pandas(doubled, preserve_index=False))


def test_many_repeated_keys_fail_the_batch_naming_the_uniqueness_rule(config, batch):
    batch["application_id"] = batch["application_id"].where(batch.index >= 100, "dup")
    with pytest.raises(DataValidationError, match="uniqueness"):
        _validate(config, batch)
