"""Bad raw input: each case gives a clear error or a quarantine, never a silent result."""

import datetime as dt

import pandas as pd
import pytest

from nightjar.demo_data import DemoSpec, applications_for
from nightjar.validation import (
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
            "event_time_not_after_batch_date",
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
