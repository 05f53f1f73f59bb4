"""Onboarding a dataset Nightjar has never seen, as a new user does: raw exports as the
source system writes them, one config file, and the CLI from a shell. No code, no
reshaping script.

The exports (``tests/fixtures/bikes``) carry what onboarding used to trip on: timestamps
with a UTC offset, columns the model does not use, an enrichment keyed on two columns
named differently from the base's and sharing a column name with it, labels with no
availability column, and a day the enrichment feed missed. The user runs ``nightjar
stack up``, ``data init``, one bulk ingest per source, then ``nightjar run`` for a first
model, seven nightly scores and their monitoring, through Airflow's scheduler.

It runs on the production-shaped stack: Airflow on PostgreSQL with the LocalExecutor,
and an MLflow tracking server with basic auth, each on 127.0.0.1 (the embedded stack
has its own module, ``test_as_users_run_it.py``). Then the user moves to a Spark
standalone cluster (a master and two 1-core workers) by writing a ``.env`` in the working
folder, which every task's settings read, and scores the last night again there: the
executors read the raw exports at the run's commit through the lakeFS gateway
(``NIGHTJAR_RAW_READER=s3a``), validate them, write the features with delta-spark, and
score with ``mapInArrow`` and the compiled forest; each task's driver is capped at 1 GiB
and its collected results at 1 MiB. The cluster's partitions must equal the local ones.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from nightjar.core.dataset_config import load_dataset_config
from nightjar.core.datasets import dataset_config
from nightjar.core.settings import Settings
from nightjar.io import delta_tables
from nightjar.io.analytics import run_query
from nightjar.scoring.scorer import PREDICTOR_KEY
from nightjar.training.compiled_forest import compiler_version
from tests.fixtures.bikes import generator

from . import stack_checks
from .conftest import ProductionServices, UserShell, start_airflow, stop_started

pytestmark = [pytest.mark.scheduler, pytest.mark.slow]

FIXTURE = Path(__file__).parents[1] / "fixtures" / "bikes"
AS_OF = dt.date(2025, 6, 7)
NIGHTS = [AS_OF + dt.timedelta(days=i) for i in range(1, 8)]  # 06-08..06-14
WATCH_DAG = "nightjar_watch_main__bikes"
CLUSTER_NIGHTS = NIGHTS[-1:]  # scored again on the Spark cluster (about 4 minutes a night)
# What the scores of a night must keep whichever engine computed them.
ENGINE_INDEPENDENT = ["trip_id", "probability", "decision", "lakefs_commit", "feature_spec",
                      "model_version"]  # fmt: skip


def spark_on_the_cluster(master_url: str) -> str:
    """A ``.env`` that makes Spark the engine on the cluster at ``master_url``."""
    conf = json.dumps({"spark.driver.maxResultSize": "1m"})
    return (
        f"NIGHTJAR_SPARK_MASTER={master_url}\n"
        "NIGHTJAR_RAW_READER=s3a\n"
        "NIGHTJAR_SPARK_WRITER=delta-spark\n"
        "NIGHTJAR_SCORING_ENGINE=spark\n"
        "NIGHTJAR_SPARK_DRIVER_MEMORY=1g\n"
        f"NIGHTJAR_SPARK_CONF='{conf}'\n"
    )


@pytest.fixture(scope="module")
def shell(tmp_path_factory, production_services: ProductionServices) -> Iterator[UserShell]:
    root = tmp_path_factory.mktemp("onboarding")
    config = root / "work" / "bikes.yaml"
    shell = UserShell.create(
        root, {"NIGHTJAR_DATASET_CONFIG": str(config), **production_services.nightjar_env()}
    )
    for name in ("bikes.yaml", "bikes_policy.yaml"):
        shutil.copy(FIXTURE / name, shell.workdir / name)
    generator.write_exports(shell.workdir / "exports")
    yield shell
    stop_started(shell)


def _ok(shell: UserShell, *command: str, timeout: float = 900) -> str:
    done = shell.run("nightjar", *command, timeout=timeout)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"nightjar {' '.join(command)}:\n{output[-4000:]}"
    return output


OUTPUT: dict[str, str] = {}  # what `nightjar run retrain` and `nightjar run score` printed
SOCKETS: list[tuple[str, int, str]] = []  # what listened while Airflow ran
LOCAL_DIGESTS: dict[dt.date, str] = {}  # CLUSTER_NIGHTS' scores before the cluster


@pytest.fixture(scope="module")
def onboarded(shell: UserShell, production_services, spark_cluster, tmp_path_factory) -> Settings:
    settings = Settings(
        home=shell.home,
        dataset_config=shell.env["NIGHTJAR_DATASET_CONFIG"],
        lakefs_standin_port=int(shell.env["NIGHTJAR_LAKEFS_STANDIN_PORT"]),
    )
    _ok(shell, "stack", "up")
    _ok(shell, "data", "init")
    for source, folder in (("trips", "trips"), ("weather", "weather"), ("late_returns", "labels")):
        _ok(shell, "data", "ingest", source, "--from-folder", f"exports/{folder}")
    airflow = start_airflow(shell, tmp_path_factory.mktemp("logs") / "airflow.log")
    # The user drives scoring with `nightjar run`. The watcher's first run (at the next
    # quarter hour) finds main's ingests new and schedules a scoring run of its own; when
    # that falls in the cluster phase, two nights share the cluster's two 1-core workers
    # and the rescore ran past its 15 minutes (2026-12-07). Data-aware triggering has its
    # own test, in test_as_users_run_it.py.
    airflow.api.wait_for_dag(WATCH_DAG)
    airflow.api.set_paused(WATCH_DAG, True)
    try:
        OUTPUT["retrain"] = _ok(shell, "run", "retrain", "--date", str(AS_OF), "--force")
        first, last = str(NIGHTS[0]), str(NIGHTS[-1])
        OUTPUT["score"] = _ok(shell, "run", "score", "--date", first, "--to", last)
        _ok(shell, "run", "monitor", "--date", first, "--to", last)
        services = {production_services.postgres_port, production_services.mlflow_port}
        SOCKETS.extend(stack_checks.listening_sockets(shell, services))
        _rescore_on_the_cluster(shell, settings, spark_cluster.master_url)
    finally:
        airflow.stop()
        _ok(shell, "stack", "down")
    return settings


def _rescore_on_the_cluster(shell: UserShell, settings: Settings, master_url: str) -> None:
    config = dataset_config(settings)
    local = stack_checks.scored_partitions(settings, config)
    LOCAL_DIGESTS.update(
        {night: stack_checks.partition_digest(local[night], "trip_id", ENGINE_INDEPENDENT)
         for night in CLUSTER_NIGHTS}
    )  # fmt: skip
    env_file = shell.workdir / ".env"
    env_file.write_text(spark_on_the_cluster(master_url))
    try:
        first, last = str(CLUSTER_NIGHTS[0]), str(CLUSTER_NIGHTS[-1])
        OUTPUT["cluster"] = _ok(shell, "run", "score", "--date", first, "--to", last)
    finally:
        env_file.unlink()


def test_every_night_is_scored_whole_from_the_raw_exports(onboarded, shell):
    scores = run_query(
        onboarded,
        "SELECT score_date, count(*) AS n, count(DISTINCT trip_id) AS trips, "
        "any_value(model_version) AS version FROM scores_bikes GROUP BY 1 ORDER BY 1",
    )
    assert pd.to_datetime(scores["score_date"]).dt.date.tolist() == NIGHTS
    assert set(scores["n"]) == set(scores["trips"]) == {generator.TRIPS_PER_DAY}
    assert {str(version) for version in scores["version"]} == {"1"}
    assert shell.leftovers() == []


def test_the_cluster_rescored_a_night_exactly_as_the_local_engine(onboarded, spark_cluster):
    """The night scored again on the cluster (features read through s3a, validated and
    written by Spark; scores by the Spark engine with the compiled forest) hold the same
    rows, probabilities and decisions as the local run left, and their commits say how
    they were made."""
    config = load_dataset_config(onboarded.dataset_config)
    after = stack_checks.scored_partitions(onboarded, config)
    assert {
        night: stack_checks.partition_digest(after[night], "trip_id", ENGINE_INDEPENDENT)
        for night in CLUSTER_NIGHTS
    } == LOCAL_DIGESTS
    scores = delta_tables.open_table(onboarded.table_uri(config.table_name("scores")))
    newest = [delta_tables.commit_metadata(c) for c in scores.history(len(CLUSTER_NIGHTS))]
    assert {c.get("nightjar.scoring_engine") for c in newest} == {"spark"}, newest
    assert {c.get(PREDICTOR_KEY) for c in newest} == {f"compiled:{compiler_version()}"}
    assert all("Apache-Spark" in c.get("engineInfo", "") for c in newest), newest
    features = delta_tables.open_table(onboarded.table_uri(config.table_name("features")))
    assert all(
        "Apache-Spark" in c.get("engineInfo", "") for c in features.history(len(CLUSTER_NIGHTS))
    )
    # A feature and a scoring application per night, each from its own task's driver.
    finished = [a for a in spark_cluster.completed_applications() if a["name"] == "nightjar"]
    assert len(finished) >= 2 * len(CLUSTER_NIGHTS), finished


def test_model_history_says_what_scores_each_version(onboarded, shell):
    printed = _ok(shell, "model", "history", timeout=300)
    assert f"v1: compiled ({compiler_version()}" in printed, printed
    assert "agrees with the Booster on" in printed


def test_nightjar_run_drives_the_running_airflow(onboarded, shell):
    assert f"using the Airflow at {shell.base_url}" in OUTPUT["retrain"]
    assert "trained; passed the gate; v1 is champion" in OUTPUT["retrain"], OUTPUT["retrain"]


def test_every_listening_socket_binds_to_localhost(onboarded, shell, production_services):
    ports = {port for _, port, _ in SOCKETS}
    assert {production_services.postgres_port, production_services.mlflow_port} <= ports
    assert int(shell.env["NIGHTJAR_AIRFLOW_PORT"]) in ports
    assert int(shell.env["NIGHTJAR_LAKEFS_STANDIN_PORT"]) in ports
    assert [s for s in SOCKETS if s[0] != "127.0.0.1"] == [], SOCKETS


def test_run_score_prints_rows_scored_beside_rows_quarantined(onboarded):
    printed = OUTPUT["score"]
    assert "rows scored per date (quarantined: raw rows the rules set aside):" in printed
    assert "quarantined" in printed and str(NIGHTS[-1]) in printed


def test_the_night_the_weather_feed_missed_is_scored_with_null_weather(onboarded):
    config = load_dataset_config(onboarded.dataset_config)
    features = delta_tables.read(
        onboarded.table_uri(config.table_name("features")),
        filters=[("feature_date", "=", generator.MISSING_WEATHER_DAY)],
    ).to_pandas()
    assert len(features) == generator.TRIPS_PER_DAY
    assert features["temp_c"].isna().all() and features["rain_mm"].isna().all()
    other_night = delta_tables.read(
        onboarded.table_uri(config.table_name("features")),
        filters=[("feature_date", "=", NIGHTS[0])],
    ).to_pandas()
    assert other_night["temp_c"].notna().all()


def test_every_night_is_monitored(onboarded):
    drift = run_query(onboarded, "SELECT DISTINCT score_date FROM drift_metrics_bikes ORDER BY 1")
    assert pd.to_datetime(drift["score_date"]).dt.date.tolist() == NIGHTS


def test_the_night_the_weather_feed_missed_is_data_quality_not_drift(onboarded):
    """Monitoring leaves the night out of the weather features' window and says so."""
    rows = run_query(
        onboarded,
        "SELECT feature, status, null_nights, drifted FROM drift_metrics_bikes "
        f"WHERE score_date = DATE '{generator.MISSING_WEATHER_DAY}' "
        "AND feature IN ('temp_c', 'rain_mm')",
    )
    assert len(rows) == 2 and (rows["null_nights"] == 1).all(), rows
    assert not rows["drifted"].any(), rows
