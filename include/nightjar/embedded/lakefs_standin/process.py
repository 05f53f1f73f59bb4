"""Start and stop the stand-in as a child process, and wait until it answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import lakefs
import urllib3

from nightjar.embedded.ports import free_port


def _accepts_connections(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


class StandinStartError(RuntimeError):
    """The stand-in did not come up; the message includes the tail of its log."""


class StandinServer:
    """``with StandinServer(dir, access_key_id=..., secret_access_key=...) as server:``"""

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        access_key_id: str,
        secret_access_key: str,
        log_file: Path | None = None,
        detach: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or free_port(host)
        self.log_file = Path(log_file) if log_file else self.data_dir / "server.log"
        self.detach = detach
        self._credentials = {
            "LAKEFS_ACCESS_KEY_ID": access_key_id,
            "LAKEFS_SECRET_ACCESS_KEY": secret_access_key,
        }
        self._process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        """The stand-in's URL."""
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server process's id, while it runs."""
        return self._process.pid if self._process else None

    def __enter__(self) -> StandinServer:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-15:])
        except OSError:
            return "(no log)"

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until it answers; StandinStartError with its log
        otherwise."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_file.open("ab")
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nightjar.embedded.lakefs_standin",
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--host",
                self.host,
                "--port",
                str(self.port),
            ],
            env={**os.environ, **self._credentials},
            stdout=log,
            stderr=log,
            start_new_session=self.detach,
        )
        log.close()
        probe = lakefs.Client(
            host=self.endpoint,
            username=self._credentials["LAKEFS_ACCESS_KEY_ID"],
            password=self._credentials["LAKEFS_SECRET_ACCESS_KEY"],
        ).sdk_client
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise StandinStartError(
                    f"the lakeFS stand-in exited with code {self._process.returncode} "
                    f"(port {self.port} in use?). Last log lines from {self.log_file}:\n"
                    f"{self._log_tail()}"
                )
            if not _accepts_connections(self.host, self.port):
                time.sleep(0.1)  # not listening yet: wait quietly, without HTTP retry warnings
                continue
            try:
                probe.health_check_api.health_check(_request_timeout=1)
                return
            except (urllib3.exceptions.HTTPError, OSError):
                time.sleep(0.1)
        self.stop()
        raise StandinStartError(
            f"the lakeFS stand-in did not answer on {self.endpoint} within "
            f"{timeout:.0f} s. Last log lines:\n{self._log_tail()}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server, killing it if it does not exit in ``timeout`` seconds."""
        if self._process is None or self._process.poll() is not None:
            self._process = None
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=timeout)
        self._process = None
