"""A user's shell, and Airflow's scheduler, for the tests that run Nightjar as users run it.

Nothing here runs a DAG in this process. ``UserShell`` runs the ``nightjar`` and
``airflow`` commands in a scrubbed environment (PATH, HOME, ``NIGHTJAR_*`` and
``AIRFLOW_*`` only: nothing of this test process's, not MLflow's or Spark's settings)
and a working directory outside the repository; the tests then talk to Airflow only
through its REST API and CLI, and read results the way an analyst does.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from nightjar.embedded.airflow_api import AirflowAPI
from tests.ports import free_port

VENV_BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
# Files that a connection falling back to a library default writes into the working dir.
LEFTOVERS = ("mlflow.db", "mlruns", "spark-warehouse", "metastore_db", "derby.log")


@dataclass
class UserShell:
    """Runs commands as a user would: scrubbed environment, own working directory."""

    home: Path
    workdir: Path
    env: dict[str, str]
    started: list[subprocess.Popen] = field(default_factory=list)

    @classmethod
    def create(cls, root: Path, extra: dict[str, str] | None = None) -> UserShell:
        home, workdir = root / "home", root / "work"
        workdir.mkdir(parents=True)
        env = {
            "PATH": f"{VENV_BIN}{os.pathsep}/usr/local/bin{os.pathsep}/usr/bin{os.pathsep}/bin",
            "HOME": os.environ["HOME"],
            "NIGHTJAR_HOME": str(home),
            "NIGHTJAR_AIRFLOW_PORT": str(free_port()),
            "NIGHTJAR_LAKEFS_STANDIN_PORT": str(free_port()),
            "NIGHTJAR_MLFLOW_UI_URL": f"http://127.0.0.1:{free_port()}",
            "NIGHTJAR_RETRY_DELAY_SECONDS": "5",
            "AIRFLOW_HOME": str(home / "airflow"),
            **(extra or {}),
        }
        assert (
            not set(env)
            - {"PATH", "HOME"}
            - {k for k in env if k.startswith(("NIGHTJAR_", "AIRFLOW_"))}
        )
        return cls(home, workdir, env)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.env['NIGHTJAR_AIRFLOW_PORT']}"

    def run(self, *command: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            command,
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def start(self, *command: str, log: Path) -> subprocess.Popen:
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                env=self.env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(process)
        return process

    def leftovers(self) -> list[str]:
        """Files a run left in the working directory that no Nightjar setting put there."""
        return sorted(name for name in LEFTOVERS if (self.workdir / name).exists())


@dataclass
class RunningAirflow:
    """``nightjar airflow`` started from a user's shell, and a REST client logged in to it."""

    shell: UserShell
    process: subprocess.Popen
    api: AirflowAPI
    log: Path

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 90) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=timeout)


def start_airflow(shell: UserShell, log: Path, timeout: float = 240) -> RunningAirflow:
    """Start ``nightjar airflow`` and wait until it says it is up."""
    process = shell.start("nightjar", "airflow", log=log)
    deadline = time.monotonic() + timeout
    while "Airflow UI:" not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            pytest.fail(f"nightjar airflow did not come up:\n{log.read_text()[-4000:]}")
        time.sleep(1)
    api = AirflowAPI.login(shell.base_url, Path(shell.env["AIRFLOW_HOME"]))
    return RunningAirflow(shell, process, api, log)


def processes_of(shell: UserShell) -> dict[int, str]:
    """Live processes that a user's shell started, by pid: Airflow's components and task
    processes, the MLflow UI, the lakeFS stand-in. Matched by working directory (every
    one inherits the shell's), or by the home in their environment or command line (Airflow
    retitles its processes with setproctitle, which hides the rest)."""
    import psutil

    found = {}
    for proc in psutil.process_iter(["pid", "cmdline", "cwd", "environ"]):
        info = proc.info
        cmdline = " ".join(info["cmdline"] or ())
        environ = info["environ"] or {}
        if (
            info["cwd"] == str(shell.workdir)
            or environ.get("NIGHTJAR_HOME") == str(shell.home)
            or str(shell.home) in cmdline
        ):
            found[info["pid"]] = cmdline[:160]
    found.pop(os.getpid(), None)
    return found


def wait_for_exit_of(shell: UserShell, timeout: float = 30) -> list[str]:
    """What the shell's processes still running after ``timeout`` are (none expected)."""
    deadline = time.monotonic() + timeout
    while (left := processes_of(shell)) and time.monotonic() < deadline:
        time.sleep(1)
    return [f"{pid}: {cmdline}" for pid, cmdline in left.items()]


def wait_until(predicate, *, timeout: float, interval: float = 3, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@dataclass
class ProductionServices:
    """PostgreSQL (Airflow's and MLflow's databases) and an MLflow tracking server with
    basic auth, started with the compose stack's own scripts, on 127.0.0.1."""

    root: Path
    postgres_port: int
    mlflow_port: int
    passwords: dict[str, str]
    mlflow: subprocess.Popen | None = None

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    def nightjar_env(self) -> dict[str, str]:
        pg = f"127.0.0.1:{self.postgres_port}"
        return {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
                f"postgresql+psycopg2://airflow:{self.passwords['airflow']}@{pg}/airflow"
            ),
            "AIRFLOW__CORE__EXECUTOR": "nightjar.airflow.executor.LocalExecutor",
            "NIGHTJAR_MLFLOW_TRACKING_URI": self.mlflow_url,
            "NIGHTJAR_MLFLOW_TRACKING_USERNAME": "admin",
            "NIGHTJAR_MLFLOW_TRACKING_PASSWORD": self.passwords["mlflow_admin"],
            "NIGHTJAR_MLFLOW_UI_URL": self.mlflow_url,
        }


def _postgres_bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        pytest.fail(
            "PostgreSQL is missing for the production-shaped stack: "
            "apt-get install postgresql (.ci/run does)",
            pytrace=False,
        )
    return found


def _as_postgres(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """PostgreSQL refuses to run as root: run its server tools as the postgres user."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)


def start_production_services() -> ProductionServices:
    """Start PostgreSQL and the MLflow server; on any failure, stop what did start."""
    root = Path(tempfile.mkdtemp(prefix="nightjar-prod-"))
    services = ProductionServices(
        root,
        postgres_port=free_port(),
        mlflow_port=free_port(),
        passwords={
            name: secrets.token_hex(12)
            for name in ("postgres", "airflow", "mlflow", "lakefs", "marquez", "mlflow_admin")
        },
    )
    data, pwfile = root / "pgdata", root / "pwfile"
    pwfile.write_text(services.passwords["postgres"])
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(pwfile, "postgres")
    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    _as_postgres([initdb, "-D", str(data), "-U", "postgres", "-A", "scram-sha-256",
                  f"--pwfile={pwfile}"])  # fmt: skip
    options = f"-h 127.0.0.1 -p {services.postgres_port} -k {root}"
    _as_postgres([pg_ctl, "-D", str(data), "-l", str(root / "postgres.log"), "-w", "-o", options,
                  "start"])  # fmt: skip
    try:
        _start_mlflow(services)
    except BaseException:
        stop_production_services(services)
        raise
    return services


def _start_mlflow(services: ProductionServices) -> None:
    """Databases and roles by the compose stack's init script, then its MLflow server."""
    root = services.root
    pg_env = {
        "PATH": os.environ["PATH"],
        "PGHOST": "127.0.0.1",
        "PGPORT": str(services.postgres_port),
        "PGPASSWORD": services.passwords["postgres"],
        "AIRFLOW_DB_PASSWORD": services.passwords["airflow"],
        "MLFLOW_DB_PASSWORD": services.passwords["mlflow"],
        "LAKEFS_DB_PASSWORD": services.passwords["lakefs"],
        "MARQUEZ_DB_PASSWORD": services.passwords["marquez"],
    }
    subprocess.run(["bash", str(REPO / "deploy" / "postgres-init.sh")], env=pg_env, check=True,
                   capture_output=True)  # fmt: skip
    mlflow_env = {
        "PATH": f"{VENV_BIN}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": os.environ["HOME"],
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_DB_HOST": f"127.0.0.1:{services.postgres_port}",
        "MLFLOW_DB_PASSWORD": services.passwords["mlflow"],
        "MLFLOW_ADMIN_PASSWORD": services.passwords["mlflow_admin"],
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
        "MLFLOW_AUTH_CONFIG_PATH": str(root / "mlflow-auth.ini"),
        "MLFLOW_HOST": "127.0.0.1",
        "MLFLOW_PORT": str(services.mlflow_port),
        "MLFLOW_ARTIFACTS_DESTINATION": (root / "mlflow-artifacts").as_uri(),
    }
    with (root / "mlflow.log").open("wb") as out:
        services.mlflow = subprocess.Popen(
            ["bash", str(REPO / "deploy" / "mlflow-server.sh")],
            env=mlflow_env,
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_until(
        lambda: _answers(f"{services.mlflow_url}/health") or services.mlflow.poll() is not None,
        timeout=120,
        interval=1,
        what="the MLflow tracking server",
    )
    if services.mlflow.poll() is not None:
        raise RuntimeError(f"MLflow server exited:\n{(root / 'mlflow.log').read_text()[-3000:]}")


def stop_production_services(services: ProductionServices) -> None:
    """Stop the MLflow server and the PostgreSQL cluster, and remove their folder."""
    if services.mlflow is not None and services.mlflow.poll() is None:
        os.killpg(services.mlflow.pid, signal.SIGTERM)
        services.mlflow.wait(timeout=60)
    _as_postgres([_postgres_bin("pg_ctl"), "-D", str(services.root / "pgdata"), "-m", "fast",
                  "-w", "stop"])  # fmt: skip
    shutil.rmtree(services.root, ignore_errors=True)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def production_services() -> Iterator[ProductionServices]:
    """PostgreSQL and the MLflow tracking server, for a module that runs on the
    production-shaped stack."""
    services = start_production_services()
    yield services
    stop_production_services(services)


def stop_started(shell: UserShell) -> None:
    """Kill whatever a test's shell started and left running (a failed test's stack)."""
    for process in shell.started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def user_shell(tmp_path_factory) -> Iterator[UserShell]:
    """A user's shell on the embedded stack (SQLite, MLflow's SQLite store)."""
    shell = UserShell.create(tmp_path_factory.mktemp("user"))
    yield shell
    stop_started(shell)


@dataclass
class Redis:
    """Debian's ``redis-server`` in a temporary folder on 127.0.0.1: the Celery broker."""

    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def start_redis(folder: Path) -> Redis:
    """Start Redis with nothing persisted, and wait until it answers."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is missing for the CeleryExecutor stack: apt-get install "
                    "redis-server (.ci/run does)", pytrace=False)  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder),
         "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
        stdout=(folder / "redis.log").open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    import socket

    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return Redis(process, port)
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"redis-server did not start:\n{(folder / 'redis.log').read_text()}")
        time.sleep(0.2)
