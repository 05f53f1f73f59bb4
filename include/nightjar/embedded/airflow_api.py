"""A small client of Airflow's REST API (v2), for driving DAGs the way a user does.

Used by ``nightjar demo`` and the scheduler tests: trigger a run, follow it, read its
task instances. Authentication is Airflow's simple auth manager: the generated admin
password under ``AIRFLOW_HOME``, exchanged for a token.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from nightjar.core.errors import AirflowAPIError

log = logging.getLogger(__name__)
FINISHED = frozenset({"success", "failed"})


@dataclass
class AirflowAPI:
    """A client of Airflow's REST API, for `nightjar run`, the demo and the tests: the path
    users take."""

    base_url: str
    token: str

    @classmethod
    def login(cls, base_url: str, airflow_home: Path, *, timeout: float = 60.0) -> AirflowAPI:
        """Log in as admin with the password the api-server generated on start-up."""
        passwords = airflow_home / "simple_auth_manager_passwords.json.generated"
        deadline = time.monotonic() + timeout
        while not passwords.is_file():
            if time.monotonic() > deadline:
                raise AirflowAPIError(f"no admin password file at {passwords}")
            time.sleep(0.5)
        password = json.loads(passwords.read_text())["admin"]
        response = httpx.post(
            f"{base_url}/auth/token",
            json={"username": "admin", "password": password},
            timeout=30,
        )
        response.raise_for_status()
        return cls(base_url, response.json()["access_token"])

    def _client(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.base_url}/api/v2",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
        )

    def request(self, method: str, path: str, *, retry: bool | None = None, **kwargs: Any) -> Any:
        """One API call; AirflowAPIError with the status and body when Airflow refuses it.
        A call that is safe to repeat (``retry``; default: every method but POST) is tried
        once more when Airflow does not answer in time or the connection drops."""
        retry = method != "POST" if retry is None else retry
        with self._client() as client:
            try:
                response = client.request(method, path, **kwargs)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if not retry:
                    raise
                log.warning("Airflow API %s %s: %s; trying once more", method, path, exc)
                time.sleep(2)
                response = client.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise AirflowAPIError(
                f"{method} {path}: HTTP {response.status_code}: {response.text[:500]}"
            )
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 180.0) -> None:
        """Wait until the DAG processor has parsed ``dag_id``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.request("GET", f"/dags/{dag_id}")
                return
            except AirflowAPIError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        """Pause or unpause a DAG."""
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})

    def set_pool(self, name: str, slots: int, description: str) -> None:
        """Create the pool, or give it ``slots`` if it has another number."""
        try:
            pool = self.request("GET", f"/pools/{name}")
        except AirflowAPIError:
            body = {"name": name, "slots": slots, "description": description}
            self.request("POST", "/pools", json=body)
            return
        if pool.get("slots") != slots:
            self.request("PATCH", f"/pools/{name}", json={"name": name, "slots": slots})

    def trigger(self, dag_id: str, conf: dict[str, Any], *, run_id: str | None = None) -> str:
        """Trigger a manual run now; return its run id. With ``run_id`` the call is safe
        to repeat (a second one finds the run), so it is retried once like a read."""
        body: dict[str, Any] = {"conf": conf, "logical_date": None}
        if run_id:
            body["dag_run_id"] = run_id
        try:
            return self.request(
                "POST", f"/dags/{dag_id}/dagRuns", json=body, retry=run_id is not None
            )["dag_run_id"]
        except AirflowAPIError as exc:
            if run_id and "409" in str(exc):  # the first try did create it
                return self.run(dag_id, run_id)["dag_run_id"]
            raise

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """A DAG run as the API reports it."""
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        """Every run of ``dag_id``, oldest first."""
        answer = self.request(
            "GET", f"/dags/{dag_id}/dagRuns", params={"limit": 1000, "order_by": "run_after"}
        )
        return answer["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The task instances of a DAG run."""
        answer = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return answer["task_instances"]

    def return_value(self, dag_id: str, run_id: str, task_id: str) -> Any:
        """What a task returned (its return_value XCom)."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        return self.request("GET", path)["value"]

    def wait_for_run(
        self,
        dag_id: str,
        run_id: str,
        *,
        timeout: float = 900.0,
        on_poll: Callable[[dict[str, Any], list[dict[str, Any]]], None] | None = None,
    ) -> str:
        """Poll until the run finishes; return its state. ``on_poll`` sees each poll."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(dag_id, run_id)
            if on_poll is not None:
                on_poll(run, self.task_instances(dag_id, run_id))
            if run["state"] in FINISHED:
                return run["state"]
            if time.monotonic() > deadline:
                raise AirflowAPIError(f"{dag_id} {run_id} did not finish in {timeout:.0f} s")
            time.sleep(2)


def failed_scoring_runs(api: AirflowAPI, dataset: str) -> dict[dt.date, str]:
    """Each date whose newest scoring run of ``dataset`` failed, with its run id, by the
    date rule the tasks use (``target_date_of``); asset-triggered runs without a ``date``
    are left out, as on the page."""
    from nightjar.core.run_info import target_date_of
    from nightjar.core.vocabulary import dag_id

    def when(value: str | None) -> dt.datetime | None:
        return dt.datetime.fromisoformat(value) if value else None

    newest: dict[dt.date, dict[str, Any]] = {}
    try:
        runs = api.request(
            "GET",
            f"/dags/{dag_id('score', dataset)}/dagRuns",
            params={"limit": 1000, "order_by": "-run_after"},
        )["dag_runs"]
    except AirflowAPIError:  # the DAG is not parsed (yet): no runs
        return {}
    for run in runs:  # newest first
        conf = run.get("conf") or {}
        if run.get("run_type") == "asset_triggered" and "date" not in conf:
            continue
        day = target_date_of(
            conf,
            when(run.get("data_interval_start")),
            when(run.get("data_interval_end")),
            when(run.get("logical_date")),
            when(run.get("run_after")),
        )
        newest.setdefault(day, run)
    return {day: run["dag_run_id"] for day, run in newest.items() if run["state"] == "failed"}
