"""delta-spark on a real standalone cluster (a master and two 1-core workers, separate
JVMs), alternating with delta-rs on one table, which delta-spark, delta-rs and DuckDB
(the analysts' path) then read alike.

Slow (2-3 minutes on 2 cores: a cluster, and a driver and two executors loading
delta-spark's classes), so marked ``slow``. Needs the pinned jars: ``make install`` fetches them.
"""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from nightjar.core.settings import Settings
from nightjar.embedded.spark_cluster import SHORT_LIVED_CONF
from nightjar.io import delta_tables
from nightjar.io.analytics import run_query

pytestmark = pytest.mark.slow
JOB = Path(__file__).with_name("delta_spark_job.py")
DAY_ONE, DAY_TWO = dt.date(2026, 5, 1), dt.date(2026, 5, 2)
ROWS = 200_000  # generated on the executors; the 1 GiB driver never holds them


def _job(cluster, home: Path, *args: str) -> dict:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ["HOME"],
        "NIGHTJAR_HOME": str(home),
        "NIGHTJAR_SPARK_MASTER": cluster.master_url,
        "NIGHTJAR_SPARK_WRITER": "delta-spark",
        "NIGHTJAR_SPARK_DRIVER_MEMORY": "1g",
        "NIGHTJAR_SPARK_CONF": json.dumps(SHORT_LIVED_CONF),
        "PYSPARK_PYTHON": sys.executable,
        **{k: os.environ[k] for k in ("JAVA_HOME", "NIGHTJAR_CACHE_DIR") if k in os.environ},
    }
    done = subprocess.run(
        [sys.executable, str(JOB), *args], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _arrow_rows(day: dt.date, n: int, shift: float = 0.0) -> pa.Table:
    return pa.table(
        {
            "entity": [f"{day}-{i:08d}" for i in range(n)],
            "amount": [i * 0.5 + shift for i in range(n)],
            "region": ["north", "south"] * (n // 2),
            "feature_date": [day] * n,
        }
    )


def _delta_rs_write(uri: str, day: dt.date, commit: str, shift: float = 0.0) -> None:
    delta_tables.replace_partition(
        uri,
        _arrow_rows(day, 1000, shift),
        partition_column="feature_date",
        value=day,
        commit_metadata={delta_tables.LAKEFS_COMMIT_KEY: commit},
    )


def test_delta_rs_and_delta_spark_alternate_on_one_table_and_all_readers_agree(
    spark_cluster, tmp_path
):
    """delta-rs -> delta-spark (on the cluster, then reading back) -> delta-rs; then
    delta-rs and DuckDB read. One delta-spark driver: each costs a JVM and its classes."""
    home = tmp_path / "home"
    uri = str(home / "warehouse" / "features_interop")
    commits = ["a" * 40, "b" * 40, "c" * 40, "d" * 40]

    _delta_rs_write(uri, DAY_ONE, commits[0])  # delta-rs creates the table
    _delta_rs_write(uri, DAY_TWO, commits[1])
    by_spark = _job(  # delta-spark replaces a date from the executors and reads it all back
        spark_cluster, home, "write", uri, str(DAY_ONE), str(ROWS), "0", commits[2], "--then-count"
    )
    assert by_spark == {"rows": ROWS, "counts": {str(DAY_ONE): ROWS, str(DAY_TWO): 1000}}
    _delta_rs_write(uri, DAY_TWO, commits[3], shift=1.0)  # delta-rs writes after delta-spark

    table = delta_tables.read(uri)
    by_date = table.group_by("feature_date").aggregate([("amount", "min"), ("entity", "count")])
    assert {
        str(r["feature_date"]): (r["entity_count"], r["amount_min"]) for r in by_date.to_pylist()
    } == {str(DAY_ONE): (ROWS, 0.0), str(DAY_TWO): (1000, 1.0)}
    analysts = run_query(  # DuckDB, as `nightjar query` runs it
        Settings(home=home),
        "SELECT CAST(feature_date AS VARCHAR) AS day, count(*) AS n, "
        "count(DISTINCT entity) AS entities FROM features_interop GROUP BY 1 ORDER BY 1",
    )
    assert analysts.to_dict("list") == {
        "day": [str(DAY_ONE), str(DAY_TWO)],
        "n": [ROWS, 1000],
        "entities": [ROWS, 1000],
    }
    # Both writers record the lakeFS commit where time travel finds it.
    versions = [
        delta_tables.version_with_metadata(uri, delta_tables.LAKEFS_COMMIT_KEY, commit)
        for commit in commits
    ]
    assert versions == [0, 1, 2, 3]


def test_concurrent_writers_creating_one_table_both_land(spark_cluster, tmp_path):
    """Two runs whose first write creates the same table at once (a backfill of a new
    dataset): delta-spark refuses one commit (ProtocolChangedException); the writer tries
    again, and each reports the rows of its own commit, not the other's."""
    home = tmp_path / "home"
    uri = str(home / "warehouse" / "features_concurrent")
    result = _job(spark_cluster, home, "write-concurrently", uri, str(DAY_ONE), str(DAY_TWO),
                  "3000")  # fmt: skip
    assert result == {"rows": [3000, 3000], "counts": {str(DAY_ONE): 3000, str(DAY_TWO): 3000}}
