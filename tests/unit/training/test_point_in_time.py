"""No feature may use data from after its row's event time."""

import datetime as dt

import pandas as pd

from nightjar.embedded.demo_data import DemoSpec, applications_for
from nightjar.features.definitions import compute_features, join_sources


def _features(spark, config, frame):
    joined = join_sources(config, {"applications": spark.createDataFrame(frame)})
    return compute_features(config, joined).toPandas().set_index("application_id")


def test_window_features_see_only_strictly_earlier_events(spark, config):
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(3)]
    frame = pd.concat(
        [applications_for(d, DemoSpec(rows_per_day=300, customers=50)) for d in days],
        ignore_index=True,
    )
    before = _features(spark, config, frame)

    # Add events in the future of every existing row, for the same customers, and make the
    # last day's loans enormous: no existing row's features may change.
    future = frame.assign(
        application_id=frame["application_id"] + "-future",
        event_ts=frame["event_ts"] + pd.Timedelta(days=30),
        loan_amount=1e6,
    )
    after = _features(spark, config, pd.concat([frame, future], ignore_index=True))
    pd.testing.assert_frame_equal(before.sort_index(), after.loc[before.index].sort_index())


def test_window_counts_match_a_brute_force_count(spark, config):
    frame = pd.concat(
        [
            applications_for(
                dt.date(2026, 1, 1) + dt.timedelta(days=i), DemoSpec(rows_per_day=200, customers=30)
            )
            for i in range(4)
        ],
        ignore_index=True,
    )
    features = _features(spark, config, frame)
    for row in frame.sample(25, random_state=1).itertuples():
        same_customer = frame[frame["customer_id"] == row.customer_id]
        expected = (
            (same_customer["event_ts"] < row.event_ts)
            & (same_customer["event_ts"] >= row.event_ts - pd.Timedelta(days=90))
        ).sum()
        assert features.loc[row.application_id, "prior_applications_90d"] == expected


def test_the_label_is_not_available_to_features(config):
    assert config.label.column not in config.raw_columns()
    assert config.label.column not in config.feature_names
