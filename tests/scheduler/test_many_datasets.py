"""Three datasets on one Airflow, as a platform team runs them: a folder of configs, one
DAG set each, their own pools, and nightly runs that go before a backfill.

From a user's shell on the embedded stack (scheduler, LocalExecutor, fresh task
processes): the demo's credit data (``nightjar --dataset credit_default demo``), then the
bikes and churn fixtures onboarded from their raw exports with the CLI and a first
model each. Then, at once: a 10-date ``airflow backfill create`` of bikes, and manual
(nightly-priority) scoring runs of churn and credit_default, two of them for the same
date. Then a fourth config that does not load is dropped into the folder.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from nightjar.core import vocabulary
from nightjar.core.settings import PACKAGED_CONFIGS, Settings
from nightjar.embedded import demo
from nightjar.io.analytics import run_query
from tests.fixtures.bikes import generator as bikes
from tests.fixtures.churn import generator as churn

from . import stack_checks
from .browser import chrome, needs_chromium
from .conftest import RunningAirflow, UserShell, start_airflow, stop_started, wait_until

pytestmark = [pytest.mark.scheduler, pytest.mark.slow]

FIXTURES = Path(__file__).parents[1] / "fixtures"
DATASETS = ("bikes", "churn", "credit_default")
DEMO_NIGHTS = 2
BIKES_AS_OF = dt.date(2025, 6, 1)
BIKES_BACKFILL = [BIKES_AS_OF + dt.timedelta(days=i) for i in range(1, 11)]  # 06-02..06-11
CHURN_FIRST, CHURN_AS_OF = dt.date(2026, 1, 1), dt.date(2026, 2, 28)
CHURN_NIGHTS = [dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3)]
SAME_DATE = demo.FIRST_NIGHT  # 2026-03-01: scored for churn and credit_default at once
RUN_SPECIFIC = ["dag_run_id", "logical_date", "data_interval_end", "scored_at", "lakefs_commit"]


def dag(stage: str, dataset: str) -> str:
    return vocabulary.dag_id(stage, dataset)


@pytest.fixture(scope="module")
def shell(tmp_path_factory) -> Iterator[UserShell]:
    root = tmp_path_factory.mktemp("many")
    folder = root / "datasets"
    folder.mkdir()
    shutil.copy(PACKAGED_CONFIGS / "datasets" / "credit_default.yaml", folder)
    shutil.copytree(PACKAGED_CONFIGS / "policies", root / "policies")
    for name in ("bikes", "churn"):
        for file in (FIXTURES / name).glob("*.yaml"):
            shutil.copy(file, folder / file.name)
    # The data is dated in the past: only what the test starts runs (no weekly retrain of
    # today, no nightly run of today).
    shell = UserShell.create(
        root, {"NIGHTJAR_DATASETS_DIR": str(folder), "NIGHTJAR_TIME_SCHEDULES": "false"}
    )
    bikes.write_exports(shell.workdir / "exports" / "bikes")
    churn.write_exports(shell.workdir / "exports" / "churn", CHURN_FIRST, CHURN_NIGHTS[-1])
    yield shell
    stop_started(shell)


def _ok(shell: UserShell, *command: str, timeout: float = 1200) -> str:
    done = shell.run("nightjar", *command, timeout=timeout)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"nightjar {' '.join(command)}:\n{output[-4000:]}"
    return output


def _settings(shell: UserShell) -> Settings:
    return Settings(
        home=shell.home,
        datasets_dir=shell.env["NIGHTJAR_DATASETS_DIR"],
        lakefs_standin_port=int(shell.env["NIGHTJAR_LAKEFS_STANDIN_PORT"]),
    )


def _scores(settings: Settings, dataset: str, day: dt.date) -> pd.DataFrame:
    return run_query(
        settings, f"SELECT * FROM scores_{dataset} WHERE score_date = DATE '{day}'"
    ).drop(columns=RUN_SPECIFIC, errors="ignore")


BEFORE: dict[str, pd.DataFrame] = {}  # credit_default's SAME_DATE partition as the demo left it
TIMELINE: dict[str, object] = {}


@pytest.fixture(scope="module")
def airflow(shell: UserShell, tmp_path_factory) -> Iterator[RunningAirflow]:
    _ok(shell, "stack", "up")
    _ok(shell, "data", "init")
    for source, folder in (("trips", "trips"), ("weather", "weather"), ("late_returns", "labels")):
        _ok(shell, "--dataset", "bikes", "data", "ingest", source, "--from-folder",
            f"exports/bikes/{folder}")  # fmt: skip
    for source, folder in (
        ("accounts", "accounts"),
        ("usage", "usage"),
        ("churn_labels", "labels"),
    ):
        # --dataset after the command, as people type it
        _ok(shell, "data", "ingest", source, "--from-folder", f"exports/churn/{folder}",
            "--dataset", "churn")  # fmt: skip
    running = start_airflow(shell, tmp_path_factory.mktemp("logs") / "airflow.log")
    try:
        started = time.monotonic()  # the demo uses the running Airflow, as `run` does
        _ok(shell, "--dataset", "credit_default", "demo", "--nights", str(DEMO_NIGHTS))
        TIMELINE["demo_s"] = time.monotonic() - started
        BEFORE["credit_default"] = _scores(_settings(shell), "credit_default", SAME_DATE)
        _ok(shell, "--dataset", "bikes", "run", "retrain", "--date", str(BIKES_AS_OF), "--force")
        _ok(shell, "--dataset", "churn", "run", "retrain", "--date", str(CHURN_AS_OF), "--force")
        _nights_beside_a_backfill(shell, running.api)
        yield running
    finally:
        running.stop()
        _ok(shell, "stack", "down")


def _nights_beside_a_backfill(shell: UserShell, api) -> None:
    """The bikes backfill, and once its tasks hold the slots, the other datasets' runs."""
    result = shell.run(
        "airflow", "backfill", "create",
        "--dag-id", dag("score", "bikes"),
        "--from-date", str(BIKES_BACKFILL[0]),
        "--to-date", str(BIKES_BACKFILL[-1] + dt.timedelta(days=1)),
        "--max-active-runs", "4",
        "--reprocess-behavior", "completed",
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    TIMELINE["backfill_created"] = dt.datetime.now(dt.UTC)

    def backfill_busy() -> bool:
        runs = [r for r in api.runs(dag("score", "bikes")) if r["run_type"] == "backfill"]
        return sum(r["state"] == "running" for r in runs) >= 3

    wait_until(backfill_busy, timeout=300, interval=1, what="the bikes backfill running")
    nightly = [("churn", day) for day in CHURN_NIGHTS] + [("credit_default", SAME_DATE)]
    TIMELINE["nightly"] = [
        (dataset, day, api.trigger(dag("score", dataset), {"date": day.isoformat()}))
        for dataset, day in sorted(nightly, key=lambda pair: pair[1])  # the same date first
    ]

    def everything_ended() -> bool:
        backfill = [r for r in api.runs(dag("score", "bikes")) if r["run_type"] == "backfill"]
        ended = len(backfill) == len(BIKES_BACKFILL) and all(
            r["state"] in ("success", "failed") for r in backfill
        )
        for dataset, _, run_id in TIMELINE["nightly"]:
            ended = ended and api.run(dag("score", dataset), run_id)["state"] in (
                "success",
                "failed",
            )
        monitors = [
            run for name in DATASETS for run in api.runs(dag("monitor", name))
            if run["state"] not in ("success", "failed")
        ]  # fmt: skip
        return ended and not monitors

    wait_until(everything_ended, timeout=2400, interval=5, what="the backfill and the nights")
    time.sleep(20)  # the last scoring runs' monitoring runs are created after they end
    wait_until(everything_ended, timeout=1200, interval=5, what="their monitoring")


def _task_instances(api, dag_id: str, run_id: str) -> list[dict]:
    return api.task_instances(dag_id, run_id)


def _config(settings: Settings, name: str):
    from nightjar.core.datasets import dataset_config

    return dataset_config(settings, name)


def test_three_datasets_trained_scored_and_monitored_in_one_airflow(airflow, shell):
    api, settings = airflow.api, _settings(shell)
    scored = {
        name: sorted(stack_checks.scored_partitions(settings, _config(settings, name)))
        for name in DATASETS
    }
    assert scored["bikes"] == BIKES_BACKFILL
    assert scored["churn"] == CHURN_NIGHTS
    assert scored["credit_default"][:DEMO_NIGHTS] == [
        demo.FIRST_NIGHT + dt.timedelta(days=i) for i in range(DEMO_NIGHTS)
    ]
    for name in DATASETS:
        runs = api.runs(dag("score", name))
        assert runs and all(r["state"] == "success" for r in runs), name
        monitored = {r["partition_key"] for r in api.runs(dag("monitor", name))
                     if r["state"] == "success"}  # fmt: skip
        assert {str(day) for day in scored[name]} <= monitored, name
        retrains = [r for r in api.runs(dag("retrain", name)) if r["state"] == "success"]
        assert retrains, f"{name} never trained"
    # Each dataset's rows are its own: its own entities, its own model.
    versions = run_query(
        settings,
        "SELECT 'bikes' AS d, count(DISTINCT model_version) AS n FROM scores_bikes UNION ALL "
        "SELECT 'churn', count(DISTINCT model_version) FROM scores_churn",
    )
    assert set(versions["n"]) == {1}


def test_nightly_runs_were_not_queued_behind_the_backfill(airflow):
    """Every task of the other datasets' runs, started while the bikes backfill held the
    executor's slots, was queued before any backfill task that became ready after it:
    the scheduler took tonight's work first (priority 10 against the backfill's 1)."""
    api = airflow.api
    backfill_tasks = [
        ti
        for run in api.runs(dag("score", "bikes"))
        if run["run_type"] == "backfill"
        for ti in _task_instances(api, dag("score", "bikes"), run["dag_run_id"])
    ]
    assert {ti["priority_weight"] for ti in backfill_tasks} == {1}
    nightly_tasks = [
        ti
        for dataset, _, run_id in TIMELINE["nightly"]
        for ti in _task_instances(api, dag("score", dataset), run_id)
    ]
    assert {ti["priority_weight"] for ti in nightly_tasks} == {10}
    assert {ti["pool"] for ti in backfill_tasks} == {vocabulary.dataset_pool("bikes")}
    when = dt.datetime.fromisoformat
    overtaken, waits = [], []
    for task in nightly_tasks:
        ready, queued = when(task["scheduled_when"]), when(task["queued_when"])
        waits.append((queued - ready).total_seconds())
        overtaken += [
            f"{b['dag_run_id']}.{b['task_id']} queued {b['queued_when']} while "
            f"{task['dag_id']}.{task['task_id']} waited since {task['scheduled_when']}"
            for b in backfill_tasks
            if b["queued_when"] and ready < when(b["queued_when"]) < queued
        ]
    assert overtaken == []
    # And the nights ran while the backfill did, not after it.
    backfill_end = max(when(ti["end_date"]) for ti in backfill_tasks)
    nightly_end = max(when(ti["end_date"]) for ti in nightly_tasks)
    print(
        f"nightly tasks waited {max(waits):.1f} s at most (mean {sum(waits) / len(waits):.1f} s) "
        f"for a slot; the last ended {(backfill_end - nightly_end).total_seconds():.0f} s "
        "before the backfill's last"
    )
    assert nightly_end < backfill_end


# The line `nightjar.airflow.glue.run_step` logs before each step reads anything.
STEP_LINE = re.compile(
    r"step (\w+) of dataset (\w+): model (\S+), lakeFS repository (\S+), MLflow (\S+); "
    r"task process (\d+) started (warm|cold), forked from (\d+)"
)


def test_warm_tasks_on_shared_workers_each_read_their_own_dataset(airflow, shell):
    """The LocalExecutor's workers fork every task process warm (Nightjar's stack imported
    once, in the scheduler) and run the three datasets' tasks one after another: each task
    still read its own dataset's config, model and lakeFS repository (its first line), and
    scored with its own model and feature code (its result), whatever that worker had
    forked before it. A worker is a task process's parent: Airflow's supervisor, which
    forks each task from itself."""
    from nightjar.core.datasets import settings_for
    from nightjar.features.definitions import spec_hash

    api, settings = airflow.api, _settings(shell)
    started = []  # (start, worker, dataset) of every task that succeeded
    for name in DATASETS:
        config = _config(settings, name)
        repository = settings_for(settings, config).lakefs_repository
        for stage in ("retrain", "score", "monitor"):
            for run in api.runs(dag(stage, name)):
                for ti in _task_instances(api, dag(stage, name), run["dag_run_id"]):
                    if ti["state"] != "success":
                        continue
                    log = api.request(
                        "GET",
                        f"/dags/{ti['dag_id']}/dagRuns/{ti['dag_run_id']}/taskInstances/"
                        f"{ti['task_id']}/logs/{ti['try_number']}",
                        params={"full_content": True},
                    )
                    line = STEP_LINE.search(str(log))
                    assert line, (ti["dag_id"], ti["dag_run_id"], ti["task_id"])
                    step, dataset, model, repo, _, _, start, worker = line.groups()
                    assert (step, dataset, model, repo, start) == (
                        ti["task_id"], name, config.model.name, repository, "warm"
                    ), line.group(0)  # fmt: skip
                    started.append((ti["start_date"], worker, name))
            if stage == "score":
                for run in api.runs(dag(stage, name)):
                    if run["state"] == "success":
                        scored = api.return_value(dag(stage, name), run["dag_run_id"], "score")
                        built = api.return_value(
                            dag(stage, name), run["dag_run_id"], "build_features"
                        )
                        assert scored["model_name"] == config.model.name, (name, scored)
                        assert built["feature_spec"] == spec_hash(config), (name, built)
    by_worker: dict[str, list[str]] = {}
    for _, worker, name in sorted(started):
        by_worker.setdefault(worker, []).append(name)
    switches = sum(a != b for names in by_worker.values() for a, b in itertools.pairwise(names))
    shared = [w for w, names in by_worker.items() if len(set(names)) > 1]
    print(f"{len(started)} tasks on {len(by_worker)} workers; {len(shared)} of them ran "
          f"more than one dataset's tasks, switching dataset {switches} times")  # fmt: skip
    assert shared and switches > 0, by_worker


def test_two_datasets_scoring_one_date_at_once_leave_each_table_exact(airflow, shell):
    api, settings = airflow.api, _settings(shell)
    spans = {}
    for dataset, day, run_id in TIMELINE["nightly"]:
        if day == SAME_DATE:
            run = api.run(dag("score", dataset), run_id)
            spans[dataset] = (
                dt.datetime.fromisoformat(run["start_date"]),
                dt.datetime.fromisoformat(run["end_date"]),
            )
    (a_start, a_end), (b_start, b_end) = spans["churn"], spans["credit_default"]
    assert a_start < b_end and b_start < a_end, f"the two runs did not overlap: {spans}"
    after = _scores(settings, "credit_default", SAME_DATE)
    pd.testing.assert_frame_equal(
        after.sort_values("application_id").reset_index(drop=True),
        BEFORE["credit_default"].sort_values("application_id").reset_index(drop=True),
    )
    churn_rows = _scores(settings, "churn", SAME_DATE)
    assert len(churn_rows) == churn_rows["snapshot_id"].nunique() == churn.ACCOUNTS
    assert set(churn_rows["model_version"].astype(str)) == {"1"}


def test_nightjar_datasets_lists_each_with_its_champion_and_last_night(airflow, shell):
    printed = _ok(shell, "datasets")
    lines = {line.split()[0]: line for line in printed.splitlines() if line.strip()}
    assert " v1 " in lines["bikes"] and " v1 " in lines["churn"], printed
    assert str(BIKES_BACKFILL[-1]) in lines["bikes"]
    assert str(CHURN_NIGHTS[-1]) in lines["churn"]
    assert all(name in lines for name in DATASETS)


def test_a_broken_config_is_one_import_error_and_the_others_run_on(airflow, shell):
    api, folder = airflow.api, Path(shell.env["NIGHTJAR_DATASETS_DIR"])
    broken = folder / "zz_broken.yaml"
    broken.write_text(
        (folder / "churn.yaml").read_text().replace("name: churn", "name: broken", 1)
        .replace("base_source: accounts", "base_source: acounts", 1)
    )  # fmt: skip
    try:

        def import_errors():
            errors = api.request("GET", "/importErrors")["import_errors"]
            return errors or None

        errors = wait_until(import_errors, timeout=180, interval=3, what="the import error")
        assert len(errors) == 1, errors
        [error] = errors
        assert error["filename"].endswith("nightjar_dataset_configs.py")
        assert "zz_broken.yaml" in error["stack_trace"] and "base_source" in error["stack_trace"]
        dag_ids = {d["dag_id"] for d in api.request("GET", "/dags", params={"limit": 100})["dags"]}
        assert {dag(stage, name) for stage in vocabulary.STAGES for name in DATASETS} <= dag_ids
        assert not any("broken" in d for d in dag_ids)
        run_id = api.trigger(dag("score", "churn"), {"date": str(CHURN_NIGHTS[-1])})
        assert api.wait_for_run(dag("score", "churn"), run_id, timeout=600) == "success"
        listed = shell.run("nightjar", "datasets", timeout=600)
        assert listed.returncode == 1 and "zz_broken.yaml" in listed.stderr
        assert "base_source" in listed.stderr and "Traceback" not in listed.stderr
    finally:
        broken.unlink()


@needs_chromium
def test_the_overview_links_to_each_datasets_page(airflow, shell):
    base, api = shell.base_url, airflow.api
    browser = chrome(base, api.token)
    try:
        browser.get(f"{base}/nightjar/")
        rows = browser.find_elements("css selector", "#datasets tr.dataset")
        assert sorted(r.get_attribute("data-dataset") for r in rows) == list(DATASETS)
        links = {
            a.text: a.get_attribute("href")
            for a in browser.find_elements("css selector", "#datasets tr.dataset td:first-child a")
        }
        last_nights = {
            "bikes": BIKES_BACKFILL[-1], "churn": CHURN_NIGHTS[-1],
        }  # fmt: skip
        for name in DATASETS:
            browser.get(links[name])
            assert browser.find_element("css selector", "h1").text == f"Nightjar: {name}"
            champion = browser.find_element("id", "champion").text
            assert champion.endswith(("v1", "v2", "v3")), champion
            if name in last_nights:
                assert browser.find_element("id", f"date-{last_nights[name]}")
    finally:
        browser.quit()
