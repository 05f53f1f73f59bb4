"""Airflow as production runs it, on this machine: api-server, scheduler, DAG processor
and triggerer, each its own process, all bound to 127.0.0.1.

``airflow standalone`` is a development shortcut: it starts Airflow's log servers on
0.0.0.0 (:8793, :8794), and a SIGTERM to it leaves its children running. Here every
component is started the way ``docker-compose.yaml`` starts it, in its own process group,
with the log servers skipped (with the LocalExecutor, every component reads task logs from
the same folder), and ``stop`` ends each group, LocalExecutor workers and task processes
included.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nightjar.core.errors import StackError
from nightjar.core.settings import Settings
from nightjar.embedded.airflow_sqlite import write_local_settings
from nightjar.embedded.supervisor import airflow_env, migrate_airflow_db
from nightjar.io.spark_jvm import is_local, prepare_class_archive

log = logging.getLogger(__name__)

COMPONENTS: dict[str, list[str]] = {
    "api-server": ["api-server", "--host", "127.0.0.1", "--workers", "1"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
POOL_SYNC_SECONDS = 20
STOP_GRACE_SECONDS = 30.0


def port_is_taken(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something already listens on ``port``, so a second Airflow fails with one clear
    line."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def stack_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """The components' environment: ``base`` (default: this process's), then Nightjar's
    Airflow settings, with this interpreter's bin folder first on PATH."""
    base = dict(os.environ if base is None else base)
    # An AIRFLOW_* setting the user gave (a PostgreSQL metadata database, say) wins.
    env = {**airflow_env(settings), **base, "NIGHTJAR_HOME": str(settings.home_dir)}
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', os.defpath)}"
    return env


SHARED_DRIVER_COMMAND = [
    sys.executable,
    "-c",
    "from nightjar.io.spark import serve_shared_driver; serve_shared_driver()",
]


@dataclass
class AirflowStack:
    """Start, health-check and stop Airflow's four components for one Nightjar home."""

    settings: Settings
    env: dict[str, str]
    log_dir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    _driver_gone: bool = False
    _driver_published: bool = False
    _retiring: list[subprocess.Popen] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        """Where this Airflow's API server answers."""
        return f"http://127.0.0.1:{self.settings.airflow_port}"

    def check_port(self) -> None:
        """Refuse to start when the API server's port is taken, naming the port and the
        setting."""
        port = self.settings.airflow_port
        if port_is_taken(port):
            raise StackError(
                f"port {port} on 127.0.0.1 is taken (another Airflow? `nightjar airflow` "
                "still running?): stop it, or set NIGHTJAR_AIRFLOW_PORT to a free port"
            )

    def start(self) -> None:
        """Start every component; raise StackError with the log's tail if one dies."""
        self.check_port()
        migrate_airflow_db(self.settings, self.env)
        pin_airflow_cfg(self.settings, self.env)
        database = self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        sqlite_wal(database)
        if database.startswith("sqlite") and not write_local_settings(
            Path(self.env["AIRFLOW_HOME"]), sqlite_path(database)
        ):
            log.warning(
                "AIRFLOW_HOME/config/airflow_local_settings.py is your own, so Nightjar did "
                "not add its SQLite fix: `airflow backfill create` beside the scheduler may "
                "fail with 'database is locked' (see nightjar.embedded.airflow_sqlite)"
            )
        prepare_class_archive(self.settings)  # once per machine: every feature task starts faster
        self.log_dir.mkdir(parents=True, exist_ok=True)
        components = {name: [self._airflow(), *args] for name, args in COMPONENTS.items()}
        if self.settings.spark_shared_driver and is_local(self.settings.spark_master):
            # One local Spark driver the feature tasks attach to (nightjar.io.spark_driver).
            components["spark-driver"] = SHARED_DRIVER_COMMAND
        for name, command in components.items():
            if name == "api-server":
                command += ["--port", str(self.settings.airflow_port)]
            self._start(name, command)

    def _start(self, name: str, command: list[str]) -> None:
        with (self.log_dir / f"{name}.log").open("ab") as out:
            self.processes[name] = subprocess.Popen(
                command,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: stop() ends its children too
            )
        log.debug("started airflow %s (pid %d)", name, self.processes[name].pid)

    def _replace_a_retired_driver(self) -> None:
        """Start a fresh shared Spark driver when the running one retired: it removed the
        file that says where it runs, and serves its attached tasks a while longer
        (``nightjar.io.spark_driver``); stop() ends it with the rest."""
        from nightjar.io.spark_driver import info_path

        driver = self.processes.get("spark-driver")
        if driver is None or driver.poll() is not None:
            return
        if info_path(self.settings).exists():
            self._driver_published = True
        elif self._driver_published:
            log.info("the shared Spark driver (pid %d) retired; starting a fresh one", driver.pid)
            self._retiring.append(driver)
            self._driver_published = False
            self._start("spark-driver", SHARED_DRIVER_COMMAND)

    def wait_until_healthy(self, timeout: float = 180.0) -> None:
        """Wait for the API server to report every component healthy; StackError with the logs'
        tails otherwise."""
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._raise_if_one_died()
            try:
                health = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=3).json()
                if all(
                    health.get(part, {}).get("status") == "healthy"
                    for part in ("metadatabase", "scheduler", "dag_processor", "triggerer")
                ):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(1)
        raise StackError(
            f"Airflow did not become healthy within {timeout:.0f} s; logs in {self.log_dir}"
        )

    def prepare_dags(self) -> None:
        """What Nightjar's DAGs need once Airflow is up: each dataset's pools, and every
        DAG unpaused as soon as the DAG processor has parsed it, so the Assets start
        monitoring and retraining (``NIGHTJAR_TIME_SCHEDULES`` decides whether the time
        schedules exist at all). A dataset added later gets its pools from ``watch``; its
        DAGs are unpaused at creation (``DAGS_ARE_PAUSED_AT_CREATION`` off)."""
        from nightjar.core.vocabulary import dag_ids

        api = self._api()
        for dataset in sync_dataset_pools(api, self.settings):
            for dag_id in dag_ids(dataset):
                api.wait_for_dag(dag_id)
                api.set_paused(dag_id, False)

    def _api(self):
        from nightjar.embedded.airflow_api import AirflowAPI

        return AirflowAPI.login(self.base_url, Path(self.env["AIRFLOW_HOME"]))

    def _raise_if_one_died(self) -> None:
        for name, process in self.processes.items():
            if name == "spark-driver":  # tasks start their own drivers without it
                if process.poll() is not None and not self._driver_gone:
                    self._driver_gone = True
                    log.warning(
                        "the shared Spark driver exited (%s); feature tasks start their own",
                        self.log_dir / "spark-driver.log",
                    )
                continue
            if process.poll() is not None:
                log_file = self.log_dir / f"{name}.log"
                tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-10:])
                raise StackError(
                    f"airflow {name} exited with {process.returncode} (log: {log_file}):\n{tail}"
                )

    def watch(self) -> None:
        """Block until a component dies (raises StackError) or a signal interrupts; every
        ``POOL_SYNC_SECONDS``, give a dataset config dropped into the folder its pools
        (and a changed ``pool_slots`` its size), so its DAGs' tasks can run."""
        last_sync = time.monotonic()
        while True:
            self._raise_if_one_died()
            self._replace_a_retired_driver()
            if time.monotonic() - last_sync > POOL_SYNC_SECONDS:
                last_sync = time.monotonic()
                try:
                    sync_dataset_pools(self._api(), self.settings)
                except Exception as error:  # a config mid-edit, the API restarting: next time
                    log.warning("dataset pools not synced: %s", str(error).splitlines()[0])
            time.sleep(1)

    def stop(self) -> None:
        """SIGTERM every component's process group, then SIGKILL what is left after a grace
        period; nothing of this stack outlives it."""
        for number, retired in enumerate(self._retiring):
            self.processes[f"spark-driver-retired-{number}"] = retired
        self._retiring.clear()
        for process in self.processes.values():
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        for process in self.processes.values():
            _signal_group(process.pid, signal.SIGKILL)  # workers a component left behind
            process.wait()
        self.processes.clear()

    def _airflow(self) -> str:
        return str(Path(sys.executable).parent / "airflow")


CELERY_EXECUTOR = "CeleryExecutor"


def celery_worker_command(
    env: dict[str, str], name: str, concurrency: int, *, serve_logs: bool
) -> list[str]:
    """``airflow celery worker`` for ``nightjar airflow worker``, after checking ``env``
    names the CeleryExecutor and a broker (a worker with neither waits for nothing).

    ``env`` is completed in place: the worker's name, for the host name its task
    instances record (``nightjar.airflow.hostname``)."""
    executor = env.get("AIRFLOW__CORE__EXECUTOR", "")
    if executor.rsplit(".", 1)[-1] != CELERY_EXECUTOR:
        raise StackError(
            f"the executor is {executor or 'the default'}, not the CeleryExecutor: set "
            "AIRFLOW__CORE__EXECUTOR=CeleryExecutor (and AIRFLOW__CELERY__BROKER_URL) for the "
            "scheduler and every worker"
        )
    if not env.get("AIRFLOW__CELERY__BROKER_URL"):
        raise StackError(
            "AIRFLOW__CELERY__BROKER_URL is not set: the worker needs the scheduler's broker "
            "(e.g. redis://127.0.0.1:6379/0)"
        )
    env["NIGHTJAR_WORKER_NAME"] = name
    env.setdefault("AIRFLOW__CORE__HOSTNAME_CALLABLE", "nightjar.airflow.hostname.worker_hostname")
    # Airflow's CLI, run after Nightjar's stack is imported, so that tasks fork warm.
    command = [sys.executable, "-m", "nightjar.airflow.celery_worker", "celery", "worker"]
    command += ["--celery-hostname", f"{name}@%h", "--concurrency", str(concurrency)]
    return command if serve_logs else [*command, "--skip-serve-logs"]


def pin_airflow_cfg(settings: Settings, env: dict[str, str]) -> None:
    """Write Nightjar's Airflow settings into ``AIRFLOW_HOME/airflow.cfg``, so that a plain
    ``airflow`` command (``airflow backfill create``...) run with just ``AIRFLOW_HOME`` sees
    the database, DAGs and URLs that the components see. Settings the user's environment
    overrides are left out (a PostgreSQL URL with its password stays in the environment)."""
    ours = airflow_env(settings)
    values: dict[tuple[str, str], str] = {}
    for name, value in ours.items():
        if name.startswith("AIRFLOW__") and env.get(name) == value:
            section, key = name.removeprefix("AIRFLOW__").lower().split("__", 1)
            values[(section, key)] = value
    path = Path(env["AIRFLOW_HOME"]) / "airflow.cfg"
    lines = path.read_text().splitlines()
    present = set()
    section = None
    for line in lines:
        if header := re.match(r"^\[(\w+)\]\s*$", line):
            section = header[1]
        elif assignment := re.match(r"^(\w+)\s*=", line):
            present.add((section, assignment[1]))
    pinned, section = [], None
    for line in lines:
        header = re.match(r"^\[(\w+)\]\s*$", line)
        assignment = re.match(r"^(\w+)\s*=", line)
        if header:
            section = header[1]
            pinned.append(line)
            pinned += [
                f"{key} = {value}"
                for (sec, key), value in values.items()
                if sec == section and (sec, key) not in present
            ]
        elif assignment and (section, assignment[1]) in values:
            pinned.append(f"{assignment[1]} = {values[(section, assignment[1])]}")
        else:
            pinned.append(line)
    path.write_text("\n".join(pinned) + "\n")


def sqlite_wal(database_url: str) -> None:
    """Put an SQLite metadata database in WAL mode (it stays so): readers stop blocking
    the writer. That alone did not stop `airflow backfill create` beside a running
    scheduler failing with "database is locked"; ``nightjar.embedded.airflow_sqlite`` does.
    PostgreSQL needs nothing."""
    import sqlite3

    if not database_url.startswith("sqlite:///"):
        return
    with closing(sqlite3.connect(sqlite_path(database_url), timeout=60)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")


def sqlite_path(database_url: str) -> Path:
    """The file of a ``sqlite:////abs/path.db?...`` URL."""
    from urllib.parse import urlsplit

    return Path(urlsplit(database_url.replace("sqlite:///", "file:///", 1)).path)


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)


def sync_dataset_pools(api: Any, settings: Settings) -> list[str]:
    """Every dataset's pools as its config says: ``nightjar__<dataset>`` with
    ``airflow.pool_slots`` slots, and its one-slot loop-guard pool. Returns the datasets."""
    from nightjar.core.datasets import load_datasets
    from nightjar.core.vocabulary import dataset_pool, loop_guard_pool

    datasets = load_datasets(settings, functions=False)
    for name, config in sorted(datasets.configs.items()):
        api.set_pool(
            dataset_pool(name),
            config.airflow.pool_slots,
            f"Nightjar dataset {name}: every task of its DAGs (airflow.pool_slots)",
        )
        api.set_pool(
            loop_guard_pool(name), 1, f"Nightjar dataset {name}: monitoring runs decide in turn"
        )
    return sorted(datasets.configs)
