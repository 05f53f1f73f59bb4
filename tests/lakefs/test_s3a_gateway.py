"""What Spark's ``s3a://`` client (hadoop-aws) needs from lakeFS's S3 gateway, for
``NIGHTJAR_RAW_READER=s3a``: listing a folder and a glob, ranged reads of Parquet files,
a clean "not found", and reads pinned to a commit that do not move with the branch.

Spark runs in a fresh process, as a feature task's does. Runs unchanged against a real
lakeFS when LAKEFS_ENDPOINT is set. Needs Java and the pinned S3A jars
(``nightjar spark fetch-jars``); about 20 s.
"""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nightjar.core.settings import load_settings
from nightjar.io.spark import java_missing
from nightjar.io.spark_jars import S3A, missing

READER = Path(__file__).with_name("s3a_reader.py")


def _parquet(values: list[int]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"n": values}), sink)
    return sink.getvalue()


def test_spark_reads_a_commit_through_the_gateway(repo, lakefs_endpoint, tmp_path):
    if java_missing() or missing(load_settings(), S3A):
        pytest.skip("needs Java and the pinned S3A jars (nightjar spark fetch-jars)")
    main = repo.branch("main")
    main.object("events/date=2026-03-01/part-0.parquet").upload(_parquet([1, 2, 3]))
    main.object("events/date=2026-03-02/part-0.parquet").upload(_parquet([4, 5]))
    commit = main.commit("two days of events").get_commit().id
    # The branch moves on; the commit must not.
    main.object("events/date=2026-03-03/part-0.parquet").upload(_parquet([6]))
    main.commit("a third day")

    endpoint, key, secret = lakefs_endpoint
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "repository": repo.id,
                "commit": commit,
                "table": "events",
                "one_file": "date=2026-03-02/part-0.parquet",
                "missing": "events/date=2026-03-09",
            }
        )
    )
    env = {
        **os.environ,
        "NIGHTJAR_LAKEFS_ENDPOINT": endpoint,
        "NIGHTJAR_LAKEFS_ACCESS_KEY_ID": key,
        "NIGHTJAR_LAKEFS_SECRET_ACCESS_KEY": secret,
        "NIGHTJAR_RAW_READER": "s3a",
        "NIGHTJAR_SPARK_MASTER": "local[1]",
    }
    done = subprocess.run(
        [sys.executable, str(READER), str(spec)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    read = json.loads(done.stdout.strip().splitlines()[-1])

    assert read["folder"] == [1, 2, 3, 4, 5]
    assert read["globbed"] == 5
    assert read["one"] == [4, 5]
    assert "PATH_NOT_FOUND" in read["missing"], read["missing"]
