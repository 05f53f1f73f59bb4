"""Spark-written Parquet files committed by delta-rs: the same table as an Arrow write."""

import datetime as dt

import pandas as pd
import pyarrow as pa

from nightjar.io import delta_tables
from nightjar.io.spark_delta import replace_partition_from_spark

DAYS = [dt.date(2026, 5, 1), dt.date(2026, 5, 2)]


def _rows(day: dt.date, n: int = 5000, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entity": [f"{day}-{i:05d}" for i in range(n)],
            "event_ts": pd.Timestamp(day, tz="UTC") + pd.to_timedelta(range(n), unit="s"),
            "amount": [i * 0.5 + shift for i in range(n)],
            "region": ["north", "south"] * (n // 2),
            "feature_date": day,
        }
    )


def test_spark_files_committed_by_delta_rs_replace_only_their_partition(settings, spark, tmp_path):
    uri = str(tmp_path / "features_spark")
    arrow_uri = str(tmp_path / "features_arrow")
    for day in DAYS:
        frame = _rows(day)
        rows = replace_partition_from_spark(
            spark.createDataFrame(frame).repartition(3),
            uri,
            partition_column="feature_date",
            value=day,
            commit_metadata={delta_tables.LAKEFS_COMMIT_KEY: "a" * 64},
        )
        assert rows == len(frame)
        delta_tables.replace_partition(
            arrow_uri,
            pa.Table.from_pandas(frame, preserve_index=False),
            partition_column="feature_date",
            value=day,
        )
    # Re-running a date replaces exactly its partition, in one commit.
    replace_partition_from_spark(
        spark.createDataFrame(_rows(DAYS[0], shift=1.0)),
        uri,
        partition_column="feature_date",
        value=DAYS[0],
    )
    spark_side = delta_tables.read(uri).to_pandas().sort_values("entity", ignore_index=True)
    assert spark_side.groupby("feature_date").size().to_dict() == {DAYS[0]: 5000, DAYS[1]: 5000}
    assert spark_side[spark_side.feature_date == DAYS[0]]["amount"].min() == 1.0
    arrow_side = delta_tables.read(arrow_uri).to_pandas().sort_values("entity", ignore_index=True)
    second = spark_side.feature_date == DAYS[1]
    pd.testing.assert_frame_equal(
        spark_side[second].reset_index(drop=True)[arrow_side.columns],
        arrow_side[arrow_side.feature_date == DAYS[1]].reset_index(drop=True),
        check_dtype=False,
    )
    history = delta_tables.open_table(uri).history()
    assert len(history) == 3 and history[-1][delta_tables.LAKEFS_COMMIT_KEY] == "a" * 64
