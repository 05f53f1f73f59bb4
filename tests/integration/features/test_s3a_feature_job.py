"""The feature job with Spark reading the raw snapshot itself (``NIGHTJAR_RAW_READER=s3a``),
on a standalone cluster (a master and two 1-core workers, the driver capped at 1 GiB and
its results at 1 MiB): the executors read ``s3a://<repo>/<commit>/...`` through the
lakeFS stand-in's S3 gateway, validate on Spark, and write the features and the
quarantine with delta-spark.
It must agree with the embedded path (lakeFS SDK, pandas validation, delta-rs) on the same
commit: the same features, the same rows set aside under the same rules, and the same
refusal when too many rows break them.

Slow (a driver and two executors loading delta-spark and hadoop-aws), so marked ``slow``.
"""

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from nightjar.core.errors import DataValidationError
from nightjar.embedded import demo_data
from nightjar.embedded.spark_cluster import SHORT_LIVED_CONF
from nightjar.features.definitions import FEATURE_DATE
from nightjar.features.job import run_feature_job
from nightjar.io import delta_tables, raw_tables, snapshots
from nightjar.io.lakefs_client import make_client
from nightjar.io.snapshots import Snapshot

pytestmark = pytest.mark.slow
JOB = Path(__file__).with_name("s3a_feature_job.py")
REPO = "nightjar-s3a"
DAYS = [dt.date(2026, 4, 1) + dt.timedelta(days=i) for i in range(3)]


def _commit(client, config, branch: str, last_day: pd.DataFrame) -> str:
    lakefs_branch = snapshots.lakefs.Repository(REPO, client=client).branch(branch)
    lakefs_branch.create(source_reference="main", exist_ok=True)
    path = config.sources["applications"].path
    spec = demo_data.DemoSpec(rows_per_day=400, customers=2000)
    for day in DAYS[:-1]:
        frame = demo_data.applications_for(day, spec)
        raw_tables.write_partition(client, REPO, branch, path, day, frame)
    raw_tables.write_partition(client, REPO, branch, path, DAYS[-1], last_day)
    return snapshots.commit(client, REPO, branch, f"raw data for {branch}", {})


def _last_day(bad_share: float) -> pd.DataFrame:
    frame = demo_data.applications_for(DAYS[-1], demo_data.DemoSpec(rows_per_day=400))
    frame.loc[0, "income"] = -5.0  # a range rule
    frame.loc[1, "region"] = "mars"  # a category rule
    frame.loc[2, "event_ts"] = pd.Timestamp(DAYS[-1]) + pd.Timedelta(days=2)  # a whole-row rule
    frame.loc[4, "application_id"] = frame.loc[3, "application_id"]  # uniqueness: both rows
    broken = int(len(frame) * bad_share)
    if broken:
        frame.loc[10 : 10 + broken, "loan_amount"] = -1.0  # inclusive: broken + 1 rows
    return frame


def _sorted(uri: str, by: list[str]) -> pd.DataFrame:
    return delta_tables.read(uri).to_pandas().sort_values(by).reset_index(drop=True)


def test_spark_reads_the_snapshot_through_s3a_and_agrees_with_the_embedded_path(
    settings, config, embedded_stack, spark, spark_cluster, tmp_path
):
    client = make_client(settings)
    snapshots.ensure_repository(client, REPO, f"local://{REPO}")
    good = _commit(client, config, "good", _last_day(0.0))
    bad = _commit(client, config, "bad", _last_day(0.2))

    # The embedded path, in this process: lakeFS SDK, pandas, delta-rs.
    embedded = settings.model_copy(update={"warehouse_uri": str(tmp_path / "embedded")})
    by_sdk = run_feature_job(
        embedded,
        config,
        Snapshot(REPO, "main", good),
        start=DAYS[-1],
        end=DAYS[-1],
        table=config.table_name("features"),
        partition_column=FEATURE_DATE,
        partition_value=DAYS[-1],
    )

    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps({"repository": REPO, "good": good, "bad": bad, "day": str(DAYS[-1])})
    )
    env = {
        **os.environ,
        "NIGHTJAR_RAW_READER": "s3a",
        "NIGHTJAR_SPARK_WRITER": "delta-spark",
        "NIGHTJAR_WAREHOUSE_URI": str(tmp_path / "s3a"),
        "NIGHTJAR_SPARK_MASTER": spark_cluster.master_url,
        "NIGHTJAR_SPARK_DRIVER_MEMORY": "1g",
        "NIGHTJAR_SPARK_CONF": json.dumps({**SHORT_LIVED_CONF, "spark.driver.maxResultSize": "1m"}),
    }
    done = subprocess.run(
        [sys.executable, str(JOB), str(spec)], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])

    # The same features, and the same five rows set aside (the duplicate id takes two).
    by_s3a = result["good"]
    expected = dataclasses.asdict(by_sdk)
    assert by_s3a["rows"] == expected["rows"] == 395
    assert by_s3a["quarantined"] == expected["quarantined"] == 5
    assert by_s3a["feature_spec"] == expected["feature_spec"]
    key = [config.entity_key]
    features = {
        name: _sorted(f"{tmp_path / name}/{config.table_name('features')}", key)
        for name in ("embedded", "s3a")
    }
    columns = [config.entity_key, "lakefs_commit", *config.feature_names]
    pd.testing.assert_frame_equal(
        features["s3a"][columns], features["embedded"][columns], check_dtype=False
    )
    quarantine = {
        name: _sorted(f"{tmp_path / name}/{config.quarantine_table}", ["rule", "row"])
        for name in ("embedded", "s3a")
    }
    rules = {name: sorted(frame["rule"]) for name, frame in quarantine.items()}
    assert rules["s3a"] == rules["embedded"]
    assert len(rules["s3a"]) == 5, rules
    assert set(quarantine["s3a"]["lakefs_commit"]) == {good}

    # Too many broken rows: refused with the column, the rule and the count; nothing written.
    # Rows of the history window count too, as on the embedded path, whose refusal of the
    # same commit has the same first line.
    with pytest.raises(DataValidationError) as embedded_refusal:
        run_feature_job(
            embedded,
            config,
            Snapshot(REPO, "main", bad),
            start=DAYS[-1],
            end=DAYS[-1],
            table=config.table_name("features"),
            partition_column=FEATURE_DATE,
            partition_value=DAYS[-1],
        )
    refusal = result["bad"].splitlines()
    assert refusal[0] == str(embedded_refusal.value).splitlines()[0]
    assert "86 of 1200 rows (7.2%) break row rules, above the 5.0% threshold" in refusal[0]
    assert (
        "  - column 'loan_amount', rule greater_than_or_equal_to(0.0): 81 failing"
        in (result["bad"])
    )
