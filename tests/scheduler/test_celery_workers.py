"""Three datasets on the CeleryExecutor, with two workers standing in for two machines.

The production-shaped stack (Airflow on PostgreSQL, an MLflow tracking server with basic
auth), Redis from Debian as the broker, and two ``nightjar airflow worker`` processes,
each with its own working directory, ``NIGHTJAR_HOME`` and Airflow home, as two
machines would have. What the tasks share is what machines share: the warehouse folder
(``NIGHTJAR_WAREHOUSE_URI``, standing in for object storage), the reports folder
(``NIGHTJAR_REPORTS_ROOT``, a shared volume), the logs folder, lakeFS over HTTP, MLflow
and Airflow's database. The workers know lakeFS and MLflow only through Airflow
connections (``lakefs_default``, ``mlflow_default``, added with ``airflow connections add``
as ``deploy/airflow-init.sh`` does): no ``NIGHTJAR_LAKEFS_*`` or MLflow tracking variable is
in their environment, and neither secret may appear in a task log or an XCom.

The loop of ``test_many_datasets.py``, shorter: the demo's credit data with one night, then
bikes and churn onboarded from their exports, a first model and a night each; every
scoring run's Asset starts its monitoring.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from nightjar.core import vocabulary
from nightjar.core.settings import PACKAGED_CONFIGS, Settings
from nightjar.embedded import demo
from tests.fixtures.bikes import generator as bikes
from tests.fixtures.churn import generator as churn

from . import stack_checks
from .conftest import (
    ProductionServices,
    RunningAirflow,
    UserShell,
    start_airflow,
    start_redis,
    stop_started,
)

pytestmark = [pytest.mark.scheduler, pytest.mark.slow]

FIXTURES = Path(__file__).parents[1] / "fixtures"
WORKERS = ("worker-a", "worker-b")
DATASETS = ("bikes", "churn", "credit_default")
NIGHTS = {
    "bikes": [dt.date(2025, 6, 2)],
    "churn": [dt.date(2026, 3, 1)],
    "credit_default": [demo.FIRST_NIGHT],
}
AS_OF = {"bikes": dt.date(2025, 6, 1), "churn": dt.date(2026, 2, 28)}
CHURN_FIRST = dt.date(2026, 1, 1)


def dag(stage: str, dataset: str) -> str:
    return vocabulary.dag_id(stage, dataset)


@pytest.fixture(scope="module")
def machines(tmp_path_factory, production_services: ProductionServices) -> Iterator[dict]:
    """The scheduler's shell, the broker, and the shared folders."""
    root = tmp_path_factory.mktemp("celery")
    folder, shared = root / "datasets", root / "shared"
    folder.mkdir()
    shutil.copy(PACKAGED_CONFIGS / "datasets" / "credit_default.yaml", folder)
    shutil.copytree(PACKAGED_CONFIGS / "policies", root / "policies")
    for name in ("bikes", "churn"):
        for file in (FIXTURES / name).glob("*.yaml"):
            shutil.copy(file, folder / file.name)
    redis = start_redis(root / "redis")
    env = {
        **production_services.nightjar_env(),
        "NIGHTJAR_DATASETS_DIR": str(folder),
        "NIGHTJAR_TIME_SCHEDULES": "false",
        "NIGHTJAR_WAREHOUSE_URI": str(shared / "warehouse"),
        "NIGHTJAR_REPORTS_ROOT": str(shared / "reports"),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": redis.url,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+"
        + production_services.nightjar_env()["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(shared / "logs"),
    }
    shell = UserShell.create(root / "scheduler", env)
    bikes.write_exports(shell.workdir / "exports" / "bikes")
    churn.write_exports(shell.workdir / "exports" / "churn", CHURN_FIRST, NIGHTS["churn"][-1])
    try:
        yield {"root": root, "shell": shell, "redis": redis}
    finally:
        stop_started(shell)
        redis.stop()


def _ok(shell: UserShell, *command: str, timeout: float = 1200) -> str:
    done = shell.run("nightjar", *command, timeout=timeout)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"nightjar {' '.join(command)}:\n{output[-4000:]}"
    return output


# What the workers' environment must not hold: the stores come from Airflow connections.
STORE_VARIABLES = ("NIGHTJAR_LAKEFS_", "NIGHTJAR_MLFLOW_TRACKING_", "MLFLOW_TRACKING_")


def _store_connections(scheduler: UserShell) -> list[str]:
    """lakeFS (the stand-in, reached over HTTP as any remote server) and MLflow as Airflow
    connections in Airflow's database, made from the scheduler machine as
    ``deploy/airflow-init.sh`` makes them; their secrets, to look for later."""
    credentials = json.loads((scheduler.home / "lakefs" / "credentials.json").read_text())
    mlflow = urlsplit(scheduler.env["NIGHTJAR_MLFLOW_TRACKING_URI"])
    password = scheduler.env["NIGHTJAR_MLFLOW_TRACKING_PASSWORD"]
    migrated = scheduler.run("airflow", "db", "migrate", timeout=600)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    for conn_id, port, login, secret in (
        ("lakefs_default", scheduler.env["NIGHTJAR_LAKEFS_STANDIN_PORT"],
         credentials["access_key_id"], credentials["secret_access_key"]),
        ("mlflow_default", str(mlflow.port), scheduler.env["NIGHTJAR_MLFLOW_TRACKING_USERNAME"],
         password),
    ):  # fmt: skip
        added = scheduler.run(
            "airflow", "connections", "add", conn_id, "--conn-type", "http",
            "--conn-host", "127.0.0.1", "--conn-port", port,
            "--conn-login", login, "--conn-password", secret,
        )  # fmt: skip
        assert added.returncode == 0, added.stdout[-2000:] + added.stderr[-2000:]
    return [credentials["secret_access_key"], password]


def _worker_shells(scheduler: UserShell, root: Path) -> list[UserShell]:
    """A shell per worker machine: its own home and working directory, and the scheduler
    machine's Nightjar and Airflow settings but for lakeFS and MLflow, which its tasks
    take from Airflow connections."""
    shared = {
        k: v
        for k, v in scheduler.env.items()
        if k.startswith(("NIGHTJAR_", "AIRFLOW__")) and not k.startswith(STORE_VARIABLES)
    }
    shells = []
    for name in WORKERS:
        shell = UserShell.create(root / name, shared)
        shell.env.pop("NIGHTJAR_LAKEFS_STANDIN_PORT")  # no stand-in on a worker's machine
        shell.env["NIGHTJAR_HOME"] = str(shell.home)
        shell.env["AIRFLOW_HOME"] = str(shell.home / "airflow")
        shells.append(shell)
    return shells


@pytest.fixture(scope="module")
def airflow(machines, tmp_path_factory) -> Iterator[RunningAirflow]:
    shell: UserShell = machines["shell"]
    _ok(shell, "stack", "up")
    machines["secrets"] = _store_connections(shell)
    workers = _worker_shells(shell, machines["root"])
    logs = machines["worker_logs"] = tmp_path_factory.mktemp("celery-logs")
    for name, worker in zip(WORKERS, workers, strict=True):
        worker.start("nightjar", "airflow", "worker", "--name", name, "--concurrency", "2",
                     "--skip-serve-logs", log=logs / f"{name}.log")  # fmt: skip
    machines["workers"] = workers
    try:
        _ok(shell, "data", "init")
        for source, folder in (("trips", "trips"), ("weather", "weather"),
                               ("late_returns", "labels")):  # fmt: skip
            _ok(shell, "--dataset", "bikes", "data", "ingest", source, "--from-folder",
                f"exports/bikes/{folder}")  # fmt: skip
        for source, folder in (("accounts", "accounts"), ("usage", "usage"),
                               ("churn_labels", "labels")):  # fmt: skip
            _ok(shell, "--dataset", "churn", "data", "ingest", source, "--from-folder",
                f"exports/churn/{folder}")  # fmt: skip
        running = start_airflow(shell, logs / "airflow.log")
        try:
            # The demo uses the running Airflow (and so the workers), as `run` does.
            _ok(shell, "--dataset", "credit_default", "demo", "--nights", "1")
            for name in ("bikes", "churn"):
                _ok(shell, "--dataset", name, "run", "retrain", "--date", str(AS_OF[name]),
                    "--force")  # fmt: skip
                first, last = NIGHTS[name][0], NIGHTS[name][-1]
                _ok(shell, "--dataset", name, "run", "score", "--date", str(first), "--to",
                    str(last))  # fmt: skip
            yield running
        finally:
            running.stop()
    finally:
        for worker in workers:
            stop_started(worker)
        _ok(shell, "stack", "down")


def _settings(shell: UserShell) -> Settings:
    return Settings(
        home=shell.home,
        datasets_dir=shell.env["NIGHTJAR_DATASETS_DIR"],
        warehouse_uri=shell.env["NIGHTJAR_WAREHOUSE_URI"],
        reports_root=shell.env["NIGHTJAR_REPORTS_ROOT"],
        lakefs_standin_port=int(shell.env["NIGHTJAR_LAKEFS_STANDIN_PORT"]),
    )


def test_three_datasets_trained_scored_and_monitored_on_celery(airflow, machines):
    from nightjar.core.datasets import dataset_config

    api, settings = airflow.api, _settings(machines["shell"])
    for name in DATASETS:
        config = dataset_config(settings, name)
        scored = sorted(stack_checks.scored_partitions(settings, config))
        assert scored[: len(NIGHTS[name])] == NIGHTS[name], name
        for stage in ("retrain", "score", "monitor"):
            runs = api.runs(dag(stage, name))
            assert runs and all(r["state"] == "success" for r in runs), (name, stage, runs)
        monitored = {r["partition_key"] for r in api.runs(dag("monitor", name))}
        assert {str(day) for day in NIGHTS[name]} <= monitored, name
        # The monitor tasks wrote their reports where the API server's plugin reads them.
        assert list(settings.reports_dir(name).glob("*.html")), name


def test_each_datasets_tasks_ran_on_both_workers(airflow):
    api = airflow.api
    ran_on = {}
    for name in DATASETS:
        hosts = [
            ti["hostname"]
            for stage in ("retrain", "score", "monitor")
            for run in api.runs(dag(stage, name))
            for ti in api.task_instances(dag(stage, name), run["dag_run_id"])
            if ti["state"] == "success"
        ]
        ran_on[name] = {host: hosts.count(host) for host in set(hosts)}
    print(f"tasks per worker: {ran_on}")
    for name, hosts in ran_on.items():
        assert set(hosts) == set(WORKERS), (name, hosts)


def test_no_task_relied_on_a_workers_working_directory(airflow, machines):
    """Each worker's working directory is as it started: empty. Whatever one task left
    for another went through the shared stores, or the other worker could not have read it."""
    for worker in machines["workers"]:
        assert sorted(p.name for p in worker.workdir.iterdir()) == [], worker.workdir


def test_every_task_on_the_workers_started_warm(airflow, machines):
    """Each worker imported Nightjar's stack once, before Celery forked its pool
    (``nightjar.airflow.celery_worker``), so no task imported it again: every task's first
    line says it started warm."""
    for name in WORKERS:
        output = (machines["worker_logs"] / f"{name}.log").read_text(errors="replace")
        preloaded = r"preloaded [1-9]\d* modules in [\d.]+ s: task processes fork warm"
        assert re.search(preloaded, output), output[-2000:]
    logs = Path(machines["shell"].env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"])
    starts = [
        found[1]
        for path in logs.rglob("attempt=*.log")
        if (found := re.search(r"task process \d+ started (warm|cold)", path.read_text()))
    ]
    assert starts and set(starts) == {"warm"}, starts


def test_the_workers_took_lakefs_and_mlflow_from_connections_and_no_secret_leaked(
    airflow, machines, production_services: ProductionServices
):
    """The workers' tasks ran with lakeFS and MLflow from Airflow connections alone (their
    environment has neither), said so in their logs, and neither secret is in any task
    log, any worker's output or any XCom in Airflow's database."""
    import psycopg2

    for worker in machines["workers"]:
        assert [k for k in worker.env if k.startswith(STORE_VARIABLES)] == [], worker.env
    secrets_ = machines["secrets"]
    logs = Path(machines["shell"].env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"])
    texts = {
        path: path.read_text(errors="replace")
        for folder in (logs, machines["worker_logs"])
        for path in folder.rglob("*")
        if path.is_file()
    }
    told = [
        path
        for path, text in texts.items()
        if "lakeFS from Airflow connection lakefs_default; "
        "MLflow from Airflow connection mlflow_default" in text
    ]
    assert told, "no task log says its stores came from Airflow connections"
    assert [str(path) for path, text in texts.items() if any(s in text for s in secrets_)] == []
    with psycopg2.connect(
        host="127.0.0.1", port=production_services.postgres_port, dbname="airflow",
        user="airflow", password=production_services.passwords["airflow"],
    ) as connection, connection.cursor() as cursor:  # fmt: skip
        cursor.execute("SELECT dag_id, task_id, value::text FROM xcom")
        xcoms = cursor.fetchall()
    assert xcoms, "no XCom to look in"
    assert [(d, t) for d, t, value in xcoms if any(s in (value or "") for s in secrets_)] == []
    print(f"{len(told)} task logs took their stores from connections; {len(texts)} log files "
          f"and {len(xcoms)} XComs hold neither secret")  # fmt: skip
