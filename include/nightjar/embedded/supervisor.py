"""The embedded stack: everything under one home folder, services started on demand.

- lakeFS: Nightjar's stand-in server on 127.0.0.1 (unless NIGHTJAR_LAKEFS_ENDPOINT is set)
- MLflow: SQLite store and local artifacts under ``home/mlflow``; its UI is served by
  ``mlflow server`` on 127.0.0.1 while ``nightjar airflow`` runs, so task links resolve
- Airflow: SQLite metadata under ``home/airflow``, DAGs from this checkout
- Delta tables: ``home/warehouse`` through delta-rs; Spark in local mode

``EmbeddedStack`` starts the stand-in when it is not running and stops it on exit; a
stand-in that ``nightjar stack up`` left running for this home is reused and left alone.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from nightjar.core.errors import StackError
from nightjar.core.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)


def airflow_env(settings: Settings) -> dict[str, str]:
    """Environment that points Airflow at the embedded home and this checkout's DAGs."""
    airflow_home = settings.home_dir / "airflow"
    api = f"http://127.0.0.1:{settings.airflow_port}"
    database = f"sqlite:///{airflow_home / 'airflow.db'}?timeout=60"
    # The provider's file transport appends to the file but does not create its folder.
    settings.openlineage_events_file.parent.mkdir(parents=True, exist_ok=True)
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # A dataset config dropped into the folder runs without anyone unpausing its DAGs.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(settings.airflow_port),
        "AIRFLOW__API__BASE_URL": api,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        # LocalExecutor whose task processes fork with Nightjar's stack imported.
        "AIRFLOW__CORE__EXECUTOR": "nightjar.airflow.executor.LocalExecutor",
        # SQLite waits up to 60 s for a lock (Python's default is 5 s): the scheduler, the
        # API server and an `airflow backfill create` all write to it at once.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_home / "logs"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "NIGHTJAR_HOME": str(settings.home_dir),
        # OpenLineage: every task's START/RUNNING/COMPLETE/FAIL events (nightjar.airflow.lineage),
        # emitted from a thread of the task process rather than a forked child.
        "AIRFLOW__OPENLINEAGE__TRANSPORT": settings.openlineage_transport_json,
        "AIRFLOW__OPENLINEAGE__NAMESPACE": settings.openlineage_namespace,
        "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True",
    }


def apply_airflow_env(settings: Settings) -> None:
    """Set the Airflow environment in this process (before anything imports airflow)."""
    for key, value in airflow_env(settings).items():
        os.environ.setdefault(key, value)
    (settings.home_dir / "airflow").mkdir(parents=True, exist_ok=True)


def migrate_airflow_db(settings: Settings, env: dict[str, str] | None = None) -> None:
    """Create or upgrade Airflow's metadata database (``env``: the components' environment;
    default this process's with the embedded Airflow settings)."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env={**os.environ, **airflow_env(settings)} if env is None else env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-5:])
        raise StackError(f"airflow db migrate failed:\n{tail}")


def standin_credentials(settings: Settings) -> dict[str, str]:
    """The stand-in's credentials, generated on first use and kept private under home."""
    path = settings.standin_dir / "credentials.json"
    if path.is_file():
        return json.loads(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    creds = {
        "access_key_id": "AKNJ" + secrets.token_hex(8).upper(),
        "secret_access_key": secrets.token_urlsafe(30),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(creds, handle)
    return creds


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _pidfile(settings: Settings) -> Path:
    return settings.standin_dir / "server.pid"


def running_standin_pid(settings: Settings) -> int | None:
    """The pid of a live stand-in that was started for this home, if any."""
    try:
        pid = int(_pidfile(settings).read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


class EmbeddedStack:
    """Context manager that makes sure lakeFS (the stand-in) is up for the duration."""

    def __init__(self, settings: Settings, *, detach: bool = False) -> None:
        self.settings = settings
        self.detach = detach
        self._server = None

    def __enter__(self) -> EmbeddedStack:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if not self.detach:
            self.stop()

    @property
    def endpoint(self) -> str:
        """The lakeFS endpoint the stack serves (the stand-in's, or the configured one)."""
        return (
            self.settings.lakefs_endpoint or f"http://127.0.0.1:{self.settings.lakefs_standin_port}"
        )

    def start(self) -> None:
        """Start the stand-in unless lakeFS is configured or already running here."""
        settings = self.settings
        settings.home_dir.mkdir(parents=True, exist_ok=True)
        if settings.lakefs_endpoint:
            log.info("using lakeFS at %s", settings.lakefs_endpoint)
            return
        creds = standin_credentials(settings)
        pid = running_standin_pid(settings)
        if pid is not None:
            log.info(
                "lakeFS stand-in already running for %s (pid %d); reusing it",
                settings.home_dir,
                pid,
            )
            return
        port = settings.lakefs_standin_port
        if _port_in_use(port):
            raise StackError(
                f"port {port} on 127.0.0.1 is in use by another program, so the lakeFS stand-in "
                "cannot start; free it or set NIGHTJAR_LAKEFS_STANDIN_PORT to another port"
            )
        from nightjar.embedded.lakefs_standin.process import StandinServer

        self._server = StandinServer(
            settings.standin_dir / "data",
            port=port,
            access_key_id=creds["access_key_id"],
            secret_access_key=creds["secret_access_key"],
            detach=self.detach,
            log_file=settings.standin_dir / "server.log",
        )
        self._server.start()
        _pidfile(settings).write_text(str(self._server.pid))
        log.info(
            "lakeFS stand-in started at %s (data in %s)",
            self.endpoint,
            settings.standin_dir / "data",
        )

    def stop(self) -> None:
        """Stop what ``start`` started, and nothing else."""
        if self._server is not None:
            self._server.stop()
            _pidfile(self.settings).unlink(missing_ok=True)
            self._server = None


# Nightjar uses none of the MLflow server's jobs (GenAI judges, trace rollups): without
# them the server starts no huey consumer of five workers beside itself.
MLFLOW_SERVER_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
}


def mlflow_ui_command(settings: Settings) -> list[str] | None:
    """``mlflow server`` over the embedded store, on the host and port of ``mlflow_ui_url``.

    None when MLflow is external (``NIGHTJAR_MLFLOW_TRACKING_URI`` set): its own UI serves
    the links then.
    """
    if settings.mlflow_tracking_uri:
        return None
    url = urlsplit(settings.mlflow_ui_url)
    if url.hostname not in ("127.0.0.1", "localhost"):
        raise StackError(
            f"NIGHTJAR_MLFLOW_UI_URL={settings.mlflow_ui_url} is not on 127.0.0.1: the embedded "
            "MLflow UI binds to localhost only"
        )
    (settings.home_dir / "mlflow").mkdir(parents=True, exist_ok=True)
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        settings.mlflow_uri,
        "--default-artifact-root",
        settings.mlflow_artifact_root,
        "--host",
        "127.0.0.1",
        "--port",
        str(url.port or 80),
        "--workers",
        "1",
    ]


def start_mlflow_ui(settings: Settings, log_file: Path) -> subprocess.Popen | None:
    """Start the embedded MLflow UI as a child process; the caller stops it."""
    command = mlflow_ui_command(settings)
    if command is None:
        return None
    port = urlsplit(settings.mlflow_ui_url).port or 80
    if _port_in_use(port):
        log.warning("port %d is in use: assuming an MLflow UI already serves it", port)
        return None
    with log_file.open("ab") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **MLFLOW_SERVER_ENV},
            start_new_session=True,
        )
    log.info("MLflow UI at %s (log: %s)", settings.mlflow_ui_url, log_file)
    return process


def stop_detached(settings: Settings) -> bool:
    """Stop a stand-in left running by ``nightjar stack up``; False if none was running."""
    import signal

    pid = running_standin_pid(settings)
    if pid is None:
        _pidfile(settings).unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    _pidfile(settings).unlink(missing_ok=True)
    return True
