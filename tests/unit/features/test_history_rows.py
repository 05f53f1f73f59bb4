"""The history a night's window features read is cut to the partitions its rows share,
and the features come out the same as from all of it."""

import datetime as dt

import pandas as pd

from nightjar.embedded import demo_data
from nightjar.features.definitions import FEATURE_DATE, compute_features, join_sources
from nightjar.features.job import history_windows_need
from nightjar.ingest.validation import PARTITION_COLUMN

NIGHT = dt.date(2026, 3, 1)
SPEC = demo_data.DemoSpec(rows_per_day=400, customers=3000)


def _applications(days: int) -> pd.DataFrame:
    frames = []
    for i in range(days, -1, -1):
        day = NIGHT - dt.timedelta(days=i)
        frames.append(demo_data.applications_for(day, SPEC).assign(**{PARTITION_COLUMN: day}))
    return pd.concat(frames, ignore_index=True)


def _night_features(spark, config, applications: pd.DataFrame) -> pd.DataFrame:
    frame = spark.createDataFrame(applications.drop(columns=[PARTITION_COLUMN]))
    features = compute_features(config, join_sources(config, {"applications": frame})).toPandas()
    tonight = features[features[FEATURE_DATE] == NIGHT]
    return tonight.sort_values(config.entity_key, ignore_index=True)


def test_a_night_keeps_only_the_history_of_its_own_customers_and_the_same_features(spark, config):
    everything = _applications(days=config.history_days)
    needed = history_windows_need(config, "applications", everything, NIGHT, NIGHT)
    tonight = everything[PARTITION_COLUMN] == NIGHT
    assert needed[PARTITION_COLUMN].eq(NIGHT).sum() == tonight.sum()  # every row of the night
    assert len(needed) < len(everything) / 3, "most history is of other customers"
    assert set(needed["customer_id"]) == set(everything.loc[tonight, "customer_id"])
    pd.testing.assert_frame_equal(
        _night_features(spark, config, needed), _night_features(spark, config, everything)
    )


def test_a_range_of_dates_and_a_source_without_windows_keep_what_they_had(config):
    everything = _applications(days=10)
    first = NIGHT - dt.timedelta(days=3)
    needed = history_windows_need(config, "applications", everything, first, NIGHT)
    in_range = pd.to_datetime(everything[PARTITION_COLUMN]).dt.date.between(first, NIGHT)
    assert needed[PARTITION_COLUMN].isin(everything.loc[in_range, PARTITION_COLUMN]).sum() == (
        in_range.sum()
    )
    labels = everything.head(5)
    assert history_windows_need(config, "labels", labels, NIGHT, NIGHT) is labels
