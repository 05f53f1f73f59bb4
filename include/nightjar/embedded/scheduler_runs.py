"""DAG runs through Airflow's scheduler, driven by its REST API, with a compact progress
display: ``nightjar demo`` and ``nightjar run``.

Airflow's four components run as ``nightjar airflow`` runs them (``AirflowStack``). An
Airflow started here has time schedules off (the data of the demo, or of a user's
history, is dated in the past): runs happen only when triggered, and through Asset events
exactly as in production (the scores Asset starts monitoring, a fired retrain request
starts the dataset's ``nightjar_retrain``). The console gets one line per DAG run; everything else
(Nightjar's own log, each Airflow component's log, the task logs) goes to files under
the home folder.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import httpx

from nightjar.core import vocabulary
from nightjar.core.errors import AirflowAPIError, DagRunFailedError, StackError
from nightjar.core.run_info import dataset_of
from nightjar.core.settings import Settings
from nightjar.embedded.airflow_api import AirflowAPI
from nightjar.embedded.airflow_stack import AirflowStack, port_is_taken, stack_env

log = logging.getLogger(__name__)
DONE_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
FOLLOW_UP_TIMEOUT = 300.0


def run_seconds(run: dict[str, Any]) -> float | None:
    """How long a run has run (or ran), from Airflow's own start and end times; None while
    it is queued."""
    if not run.get("start_date"):
        return None
    started = dt.datetime.fromisoformat(run["start_date"])
    ended = dt.datetime.fromisoformat(run["end_date"]) if run.get("end_date") else None
    return ((ended or dt.datetime.now(dt.UTC)) - started).total_seconds()


class RunProgress:
    """One console line per DAG run: redrawn in place on a terminal, printed once when the
    run ends otherwise. The time is Airflow's (the run's start to its end), whenever the
    line began to follow it."""

    def __init__(self, dag_id: str, label: str) -> None:
        self.dag_id, self.label = dag_id, label
        self.live = sys.stdout.isatty()

    def _line(self, run: dict[str, Any], done: int, total: int) -> str:
        width = 20
        filled = width * done // total if total else 0
        bar = "#" * filled + "." * (width - filled)
        seconds = run_seconds(run)
        elapsed = "queued" if seconds is None else f"{seconds:>4.0f} s"
        return (
            f"  {self.dag_id:<17} {self.label:<22} [{bar}] {done:>2}/{total:<2} tasks "
            f"{elapsed:>6}  {run['state']}"
        )

    def update(self, run: dict[str, Any], tasks: list[dict[str, Any]]) -> None:
        """Show the run's progress: rewritten in place on a terminal, once at the end otherwise."""
        done = sum(task["state"] in DONE_STATES for task in tasks)
        line = self._line(run, done, len(tasks))
        if run["state"] in ("success", "failed"):
            click.echo(f"\r{line}" if self.live else line)
        elif self.live:
            click.echo(f"\r{line}", nl=False)


@dataclass
class SchedulerRunner:
    """Drives the demo's DAGs through a running Airflow's REST API."""

    api: AirflowAPI
    task_logs: Path  # Airflow's base log folder
    dataset: str  # whose DAGs it follows
    retrains: list[dict[str, Any]] = field(default_factory=list)
    followed: dict[str, set[str]] = field(default_factory=dict)  # Asset-triggered runs seen

    def run(self, dag_id: str, day: dt.date, conf: dict[str, Any]) -> str:
        """Trigger ``dag_id`` for ``day`` through the API and follow it to the end; return its
        state."""
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        run_id = self.api.trigger(
            dag_id, {"date": day.isoformat(), **conf}, run_id=f"demo__{day}__{stamp}"
        )
        return self.follow(dag_id, run_id, str(day))

    def follow(self, dag_id: str, run_id: str, label: str) -> str:
        """Show the run's progress until it ends; a failed run raises, naming the failed
        tasks and where their logs are."""
        progress = RunProgress(dag_id, label)
        state = self.api.wait_for_run(dag_id, run_id, on_poll=progress.update)
        if state != "success":
            failed = [
                task["task_id"]
                for task in self.api.task_instances(dag_id, run_id)
                if task["state"] in ("failed", "upstream_failed")
            ]
            logs = self.task_logs / f"dag_id={dag_id}" / f"run_id={run_id}"
            raise DagRunFailedError(
                f"{dag_id} run {run_id} ended {state} (failed: {', '.join(failed) or 'none'}); "
                f"task logs: {logs}"
            )
        return state

    def after_scoring(self, day: dt.date) -> None:
        """Follow the monitoring run the scores Asset started, and the retrain it requested."""
        monitor_dag, retrain_dag = (
            vocabulary.dag_id("monitor", self.dataset),
            vocabulary.dag_id("retrain", self.dataset),
        )
        monitor = self._next_triggered_run(monitor_dag)
        self.follow(monitor_dag, monitor, f"{day} (asset)")
        if _task_state(self.api, monitor_dag, monitor, "request_retrain") != "success":
            return
        retrain = self._next_triggered_run(retrain_dag)
        try:
            state = self.follow(retrain_dag, retrain, f"{day} (drift)")
        except DagRunFailedError as failed:
            if _task_state(self.api, retrain_dag, retrain, "evaluate_gate") != "failed":
                raise
            click.echo(f"  {failed}", err=True)  # a failed gate is an outcome, said not raised
            state = "failed"
        self.retrains.append(describe_retrain(self.api, retrain_dag, retrain, state, day))

    def _next_triggered_run(self, dag_id: str) -> str:
        """The run of ``dag_id`` that an Asset event created since the last one followed."""
        seen = self.followed.setdefault(dag_id, set())
        deadline = time.monotonic() + FOLLOW_UP_TIMEOUT
        while time.monotonic() < deadline:
            fresh = [
                run["dag_run_id"]
                for run in self.api.runs(dag_id)
                if run["run_type"] == "asset_triggered" and run["dag_run_id"] not in seen
            ]
            if fresh:
                seen.add(fresh[0])
                return fresh[0]
            time.sleep(2)
        raise AirflowAPIError(f"no {dag_id} run was triggered within {FOLLOW_UP_TIMEOUT:.0f} s")


def _task_state(api: AirflowAPI, dag_id: str, run_id: str, task_id: str) -> str | None:
    for task in api.task_instances(dag_id, run_id):
        if task["task_id"] == task_id:
            return task["state"]
    return None


def describe_retrain(
    api: AirflowAPI, retrain_dag: str, run_id: str, state: str, day: dt.date
) -> dict[str, Any]:
    """What a retrain run did: ran or declined, the gate, the new version."""
    tasks = {task["task_id"]: task["state"] for task in api.task_instances(retrain_dag, run_id)}
    outcome: dict[str, Any] = {"requested_by": str(day), "run_id": run_id, "state": state}
    if tasks.get("guard") == "skipped":
        outcome["result"] = "declined by the guard (see its log)"
    elif tasks.get("evaluate_gate") == "failed":
        outcome["result"] = "trained; failed the gate, not registered (the failing checks: "
        "evaluate_gate's log)"
    elif tasks.get("evaluate_gate") == "skipped":
        outcome["result"] = "trained; not registered (the model is byte-identical to the "
        "champion: see evaluate_gate's log)"
    elif tasks.get("register_and_promote") == "success":
        promoted = api.return_value(retrain_dag, run_id, "register_and_promote")
        role = "champion" if promoted["promoted"] else "challenger (awaits approval)"
        outcome["result"] = f"trained; passed the gate; v{promoted['version']} is {role}"
        if promoted.get("compiled"):
            outcome["result"] += f"; {promoted['compiled']}"
    else:
        outcome["result"] = f"ended {state}"
    return outcome


@contextmanager
def started_airflow(settings: Settings) -> Iterator[tuple[AirflowAPI, Path]]:
    """Airflow started for the block (time schedules off) and stopped after it; yields a
    logged-in API client and Airflow's task log folder."""
    stack = AirflowStack(
        settings,
        {**stack_env(settings), "NIGHTJAR_TIME_SCHEDULES": "false"},
        log_dir=settings.home_dir / "airflow" / "logs" / "stack",
    )
    stack.check_port()
    click.echo(f"starting Airflow on {stack.base_url} (logs: {stack.log_dir}) ...")
    try:
        stack.start()
        stack.wait_until_healthy()
        stack.prepare_dags()
        airflow_home = Path(stack.env["AIRFLOW_HOME"])
        yield AirflowAPI.login(stack.base_url, airflow_home), airflow_home / "logs"
    finally:
        click.echo("stopping Airflow ...")
        stack.stop()


@contextmanager
def any_airflow(settings: Settings) -> Iterator[tuple[AirflowAPI, Path]]:
    """The Airflow that `nightjar airflow` serves for this home, if it is up; otherwise
    one started for the block."""
    airflow_home = Path(stack_env(settings)["AIRFLOW_HOME"])
    base_url = f"http://127.0.0.1:{settings.airflow_port}"
    if port_is_taken(settings.airflow_port):
        try:
            api = AirflowAPI.login(base_url, airflow_home, timeout=1)
        except (AirflowAPIError, httpx.HTTPError, KeyError, ValueError) as exc:
            raise StackError(
                f"port {settings.airflow_port} on 127.0.0.1 is taken, but not by this home's "
                f"Airflow ({exc}): stop it, or set NIGHTJAR_AIRFLOW_PORT"
            ) from None
        click.echo(f"using the Airflow at {base_url}")
        yield api, airflow_home / "logs"
        return
    with started_airflow(settings) as running:
        yield running


def run_demo(settings: Settings, config: Any, *, nights: int) -> SchedulerRunner:
    """Run the demo loop through the Airflow that `nightjar airflow` serves for this home,
    or through one started for it and stopped after; return what it did."""
    from nightjar.embedded import demo

    with any_airflow(settings) as (api, task_logs):
        for dag in vocabulary.dag_ids(config.name):  # parsed and unpaused: a served
            api.wait_for_dag(dag)  # Airflow may have just come up, or been paused by hand
            api.set_paused(dag, False)
        click.echo(f"Airflow is up; Nightjar's log: {settings.home_dir / 'logs' / 'demo.log'}")
        runner = SchedulerRunner(api, task_logs=task_logs, dataset=config.name)
        demo.run_demo(settings, config, runner=runner, nights=nights)
        return runner


def run_dates(settings: Settings, dag_id: str, dates: list[dt.date], conf: dict[str, Any]) -> int:
    """Trigger ``dag_id`` once per date (conf ``date``), follow every run to its end, and
    return how many failed. Uses the running Airflow, or starts one for the purpose."""
    retrain_dag = vocabulary.dag_id("retrain", str(dataset_of(dag_id)))
    with any_airflow(settings) as (api, task_logs):
        api.wait_for_dag(dag_id)
        api.set_paused(dag_id, False)  # a DAG its operator paused runs when asked to
        since = dt.datetime.now(dt.UTC)
        stamp = since.strftime("%Y%m%dT%H%M%S%f")
        run_ids = [
            api.trigger(dag_id, {**conf, "date": day.isoformat()}, run_id=f"cli__{day}__{stamp}")
            for day in dates
        ]
        runner = SchedulerRunner(api, task_logs=task_logs, dataset=str(dataset_of(dag_id)))
        failed = 0
        for day, run_id in zip(dates, run_ids, strict=True):
            try:
                state = runner.follow(dag_id, run_id, str(day))
            except DagRunFailedError as exc:
                click.echo(f"  {exc}", err=True)
                failed += 1
                continue
            if dag_id == retrain_dag:  # say what it did: declined, gated, promoted
                described = describe_retrain(api, dag_id, run_id, state, day)
                click.echo(f"  {day}: {described['result']}")
        failed += follow_asset_runs(runner, since)
        return failed


FOLLOWED_STAGES = ("score", "monitor", "retrain")
QUIET_SECONDS = 15.0  # no new Asset-triggered run for this long: the cascade has ended


def follow_asset_runs(runner: SchedulerRunner, since: dt.datetime) -> int:
    """Follow, to their end, the runs that Asset events created since ``since`` (the
    monitoring the scoring runs started, the retrains it requested), and those they
    created in turn; return how many failed. An Airflow that ``nightjar run`` started is
    stopped only after them, so none is killed halfway and leaves its branch behind."""
    api, seen, failed = runner.api, set(), 0
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < QUIET_SECONDS:
        fresh = [
            run
            for stage in FOLLOWED_STAGES
            for run in api.runs(vocabulary.dag_id(stage, runner.dataset))
            if run["run_type"] == "asset_triggered"
            and run["dag_run_id"] not in seen
            and dt.datetime.fromisoformat(run["queued_at"] or run["run_after"]) >= since
        ]
        if not fresh:
            time.sleep(2)
            continue
        for run in fresh:
            seen.add(run["dag_run_id"])
            label = f"{run.get('partition_key') or ''} (asset)".strip()
            try:
                runner.follow(run["dag_id"], run["dag_run_id"], label)
            except DagRunFailedError as exc:
                click.echo(f"  {exc}", err=True)
                failed += 1
        quiet_since = time.monotonic()
    return failed
