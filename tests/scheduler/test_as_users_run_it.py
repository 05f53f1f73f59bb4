"""Nightjar as users run it: `nightjar demo` and `nightjar airflow` from a user's shell,
then Airflow's REST API and `airflow backfill create`, on the embedded stack.

One module-scoped world, in the order a user meets it: the demo (the whole loop through
the scheduler, drift included), then Airflow started again for backfills, a declined
retrain, a killed task and data-aware triggering, then a clean stop. The
production-shaped stack (PostgreSQL, LocalExecutor, MLflow tracking server with basic
auth) runs the onboarding module (``test_onboarding.py``), which drives the same
scheduler through ``nightjar run``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import lakefs
import pytest

from nightjar.core import vocabulary
from nightjar.core.datasets import dataset_config
from nightjar.core.errors import AirflowAPIError
from nightjar.core.settings import PACKAGED_CONFIGS, Settings
from nightjar.embedded import demo, demo_data
from nightjar.embedded.supervisor import EmbeddedStack, standin_credentials
from nightjar.io import delta_tables, tracking
from nightjar.io.lakefs_client import make_client
from nightjar.promotion import registry
from tests.notice_servers import HttpRecorder, SmtpInbox, http_recorder, smtp_inbox
from tests.openlineage.events import read_events, schema_errors, task_events

from . import stack_checks
from .browser import WIDTH, broken_links, chrome, needs_chromium
from .conftest import (
    REPO,
    RunningAirflow,
    UserShell,
    processes_of,
    start_airflow,
    stop_started,
    wait_for_exit_of,
    wait_until,
)

pytestmark = [pytest.mark.scheduler, pytest.mark.slow]

NIGHTS = 6  # drift from the 4th night; the guard fires on the 5th; the 6th uses the retrain
# The 12 nights after the demo's, backfilled four at a time with their monitoring: the
# demo's shift goes on, so the guard has requests to make while runs end out of order
# (its request falls on the 2nd night, the cooldown holds the rest back). Three rounds of
# four are enough for that; thirty dates cost six minutes more (the 30-date throughput
# is `bench.backfill_year`'s to measure).
BACKFILL_FROM = demo.FIRST_NIGHT + dt.timedelta(days=NIGHTS)
BACKFILL_DATES = [BACKFILL_FROM + dt.timedelta(days=i) for i in range(12)]
REPEATED_DATES = BACKFILL_DATES[4:8]  # four of them (a range, as a backfill takes), again
SHADOW_DAY, KILLED_DAY = dt.date(2026, 2, 1), dt.date(2026, 2, 4)  # scored by hand, later
WATCHED_DAY = BACKFILL_DATES[-1] + dt.timedelta(days=1)  # merged, scored through the watcher
SCORE_DAG, RETRAIN_DAG, MONITOR_DAG, WATCH_DAG = (
    vocabulary.dag_id(stage, "credit_default")
    for stage in ("score", "retrain", "monitor", "watch_main")
)
# The demo's first model's as-of date: a forced retrain on it trains a model unlike the
# champion (the demo's drift retrain replaced it), which the gate then judges.
FIRST_AS_OF = demo.FIRST_NIGHT - dt.timedelta(days=1)
GAP_DAY = WATCHED_DAY + dt.timedelta(days=2)  # landed, left unscored on purpose
SCREENSHOT = REPO / "docs" / "nightjar-page.png"


# Where the user's config sends its notices: the operators' mail and their chat's webhook,
# each an Airflow connection (NIGHTJAR_SMTP, NIGHTJAR_HOOK) in Airflow's secrets backend.
NOTIFICATIONS = """
notifications:
  - events: [gate_failed, date_failed]
    email: {to: [ops@example.com], smtp_conn_id: nightjar_smtp}
  - events: [gate_failed, retrain_requested, date_failed]
    webhook: {conn_id: nightjar_hook}
"""


@pytest.fixture(scope="module")
def notices() -> Iterator[tuple[SmtpInbox, HttpRecorder]]:
    """A real SMTP server and a real HTTP server on 127.0.0.1 for the user's notices."""
    with smtp_inbox() as inbox, http_recorder() as recorder:
        yield inbox, recorder


@pytest.fixture(scope="module")
def user_shell(tmp_path_factory, notices) -> Iterator[UserShell]:
    """A user's shell on the embedded stack whose dataset config and gate policy are the
    user's own copy of the packaged ones, so a test can tighten the gate as an operator
    would (``NIGHTJAR_DATASET_CONFIG``, as the README's onboarding does); the config
    routes its notices to ``notices``' servers."""
    root = tmp_path_factory.mktemp("user")
    shutil.copytree(PACKAGED_CONFIGS, root / "configs")
    config = root / "configs" / "datasets" / "credit_default.yaml"
    config.write_text(config.read_text() + NOTIFICATIONS)
    inbox, recorder = notices
    shell = UserShell.create(
        root,
        {
            "NIGHTJAR_DATASET_CONFIG": str(config),
            "AIRFLOW_CONN_NIGHTJAR_SMTP": inbox.connection,
            "AIRFLOW_CONN_NIGHTJAR_HOOK": recorder.connection,
        },
    )
    yield shell
    stop_started(shell)


def _settings(shell: UserShell) -> Settings:
    """The user's settings, to read results as an analyst would (nothing is written)."""
    return Settings(
        home=shell.home, lakefs_standin_port=int(shell.env["NIGHTJAR_LAKEFS_STANDIN_PORT"])
    )


@pytest.fixture(scope="module")
def demo_output(user_shell: UserShell) -> str:
    started = time.monotonic()
    result = user_shell.run("nightjar", "demo", "--nights", str(NIGHTS), timeout=1800)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    print(f"nightjar demo --nights {NIGHTS}: {time.monotonic() - started:.0f} s\n{output}")
    return output


@pytest.fixture(scope="module")
def airflow(user_shell: UserShell, demo_output, tmp_path_factory) -> RunningAirflow:
    running = start_airflow(user_shell, tmp_path_factory.mktemp("logs") / "nightjar-airflow.log")
    yield running
    if running.process.poll() is None:
        running.stop()


def test_demo_goes_through_the_scheduler_and_says_what_the_retrain_did(demo_output, user_shell):
    lines = demo_output.splitlines()
    assert len(lines) < 80, demo_output
    assert sum(line.lstrip().startswith("nightjar_score") for line in lines) == NIGHTS
    assert sum(MONITOR_DAG in line and "(asset)" in line for line in lines) == NIGHTS
    assert "drift-triggered retrains:" in demo_output
    retrains = [line for line in lines if "requested by 2026-03-0" in line]
    assert retrains, demo_output
    assert "Traceback" not in demo_output and "XCom not found" not in demo_output
    assert (user_shell.home / "logs" / "demo.log").is_file()
    assert user_shell.leftovers() == []
    assert wait_for_exit_of(user_shell) == [], "the demo left processes behind"


def _events(shell: UserShell) -> list[dict]:
    return read_events(shell.home / "lineage" / "openlineage.jsonl")


def _datasets(events: list[dict], dag_id: str, task_id: str, side: str) -> list[dict]:
    return [d for e in task_events(events, dag_id, task_id) for d in e.get(side) or []]


def test_every_task_emitted_openlineage_events_with_the_promised_datasets(demo_output, user_shell):
    """Through the scheduler, the provider's listener sends each task's START and COMPLETE,
    and Nightjar's glue one RUNNING event with what the task read and wrote: checked
    against the RunEvent schema, and each dataset against the table or commit it names."""
    settings = _settings(user_shell)
    config = dataset_config(settings)
    scores_uri = settings.table_uri(config.table_name("scores"))
    # The listener may write COMPLETE just after Airflow marks the task done.
    events = wait_until(
        lambda: (
            (found := _events(user_shell))
            and sum(
                e["eventType"] == "COMPLETE" and e["job"]["name"] == f"{SCORE_DAG}.score"
                for e in found
            )
            >= NIGHTS
            and found
        ),
        timeout=60,
        what="the scoring tasks' COMPLETE events",
    )
    assert [(e["job"]["name"], err) for e in events for err in schema_errors(e)] == []
    kinds = {(e["job"]["name"], e["eventType"]) for e in events}
    for dag_id, tasks in (
        (SCORE_DAG, ("open_snapshot", "build_features", "score")),
        (RETRAIN_DAG, ("guard", "open_snapshot", "build_features", "train")),
    ):
        for task_id in tasks:
            assert {(f"{dag_id}.{task_id}", k) for k in ("START", "COMPLETE")} <= kinds

    # Scoring: the raw table at the run's commit in, the features partition out; then the
    # features and the champion in, the scores partition out, at the version it created.
    history = {c["version"]: c for c in delta_tables.open_table(scores_uri).history()}
    for event in task_events(events, SCORE_DAG, "score"):
        if event["eventType"] != "RUNNING":
            continue
        inputs = {d["name"]: d for d in event["inputs"]}
        model = inputs[f"models/{config.model.name}"]
        (written,) = [d for d in event["outputs"] if d["name"] == scores_uri]
        version = int(written["facets"]["version"]["datasetVersion"])
        commit = delta_tables.commit_metadata(history[version])
        assert commit["nightjar.model_version"] == model["facets"]["version"]["datasetVersion"]
        partitions = written["outputFacets"]["subset"]["outputCondition"]["partitions"]
        days = [dt.date.fromisoformat(p["dimensions"]["score_date"]) for p in partitions]
        rows = delta_tables.open_table(scores_uri, version).to_pyarrow_table(
            filters=[("score_date", "in", days)]
        )
        assert written["outputFacets"]["outputStatistics"]["rowCount"] == rows.num_rows > 0
        assert set(rows.column("lakefs_commit").to_pylist()) == {commit["nightjar.lakefs_commit"]}
    raw = [
        d
        for d in _datasets(events, SCORE_DAG, "build_features", "inputs")
        if d["namespace"] == f"lakefs://{settings.lakefs_repository}"
    ]
    assert {d["name"] for d in raw} == {config.sources["applications"].path}
    scored_commits = set(
        delta_tables.read(scores_uri, columns=["lakefs_commit"]).column("lakefs_commit").to_pylist()
    )
    assert {d["facets"]["version"]["datasetVersion"] for d in raw} <= scored_commits
    # Retraining: a registered version out, named as MLflow names it.
    registered = [
        d
        for d in _datasets(events, RETRAIN_DAG, "register_and_promote", "outputs")
        if d["name"] == f"models/{config.model.name}"
    ]
    versions = {d["facets"]["version"]["datasetVersion"] for d in registered}
    client = tracking.client(settings)
    assert versions and all(client.get_model_version(config.model.name, v) for v in versions)


def test_explain_follows_a_score_to_mlflow_lakefs_and_the_dag_run(demo_output, user_shell):
    settings = _settings(user_shell)
    config = dataset_config(settings)
    scores = delta_tables.read(settings.table_uri(config.table_name("scores"))).to_pandas()
    row = scores.sort_values(["score_date", config.entity_key]).iloc[-1]
    day = row["score_date"].isoformat()
    result = user_shell.run("nightjar", "explain", row[config.entity_key], "--date", day, "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    chain = json.loads(result.stdout)
    assert chain["score"]["probability"] == row["probability"]
    assert chain["score"]["decision"] == bool(row["decision"])
    assert chain["score"]["decision"] == (row["probability"] >= chain["score"]["threshold"])
    assert chain["dag_run"]["dag_run_id"] == row["dag_run_id"]
    assert chain["notes"] == []

    client = tracking.client(settings)
    version = client.get_model_version(config.model.name, chain["model"]["version"])
    assert version.run_id == chain["model"]["run_id"] == row["model_run_id"]
    assert "champion" in chain["model"]["aliases_at_scoring"]
    assert chain["model"]["approval"]["to_version"] == chain["model"]["version"]
    run = client.get_run(version.run_id)
    assert chain["training"]["lakefs_commit"] == run.data.tags["nightjar.lakefs_commit"]
    assert chain["training"]["time_range"] == run.data.params["time_range"]
    assert chain["model"]["model_sha256"] == run.data.tags["nightjar.model_sha256"]

    features = delta_tables.read(
        settings.table_uri(config.table_name("features")),
        filters=[
            ("feature_date", "=", row["score_date"]),
            (config.entity_key, "=", row[config.entity_key]),
        ],
    ).to_pylist()[0]
    assert chain["features"]["values"] == {n: features[n] for n in config.feature_names}
    assert chain["features"]["feature_spec"] == row["feature_spec"]

    inputs = chain["inputs"]
    assert inputs["lakefs_commit"] == row["lakefs_commit"]
    with EmbeddedStack(settings):
        lakefs_client = make_client(settings)
        ref = lakefs.Repository(settings.lakefs_repository, client=lakefs_client).ref(
            inputs["lakefs_commit"]
        )
        assert ref.get_commit().id == inputs["lakefs_commit"]
        (objects,) = inputs["objects"].values()
        assert objects and all(ref.object(path).exists() for path in objects)
        training = lakefs.Repository(settings.lakefs_repository, client=lakefs_client)
        assert training.ref(chain["training"]["lakefs_commit"]).get_commit().id

    text = user_shell.run("nightjar", "explain", row[config.entity_key], "--date", day)
    assert text.returncode == 0 and "made champion" in text.stdout, text.stdout + text.stderr
    print(text.stdout)
    missing = user_shell.run("nightjar", "explain", "nobody", "--date", day)
    assert missing.returncode == 1
    assert missing.stderr.strip().endswith(
        f"{config.entity_key} 'nobody' was not scored on {day} ({config.table_name('scores')})"
    )


def test_reproduce_gives_the_champion_byte_for_byte(demo_output, user_shell):
    settings = _settings(user_shell)
    config = dataset_config(settings)
    champion = registry.version_for_alias(settings, config.model.name, registry.CHAMPION)
    run_id = tracking.client(settings).get_model_version(config.model.name, champion).run_id
    recorded = tracking.client(settings).get_run(run_id).data.tags["nightjar.git_commit"]
    # A clean checkout (CI's) takes the strict path; a developer's edited tree recorded
    # <sha>-dirty, which reproduce refuses without --force.
    force = ["--force"] if recorded.endswith("-dirty") else []
    result = user_shell.run(
        "nightjar", "model", "reproduce", champion, "--json", *force, timeout=900
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    reproduced = json.loads(result.stdout)
    assert reproduced["byte_identical"] and reproduced["metrics_equal"], reproduced
    assert reproduced["reproduced_sha256"] == reproduced["recorded_sha256"]

    elsewhere = {**user_shell.env, "NIGHTJAR_GIT_COMMIT": "0" * 40}
    refused = subprocess.run(
        ["nightjar", "model", "reproduce", champion], env=elsewhere, cwd=user_shell.workdir,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert refused.returncode == 1
    assert f"this checkout is {'0' * 40}" in refused.stderr
    assert "--force" in refused.stderr and "Traceback" not in refused.stderr


def test_the_loop_ran_in_the_scheduler_in_order(airflow: RunningAirflow):
    """Retrain (manual) -> per night: score (manual) -> monitor (scores Asset); drift ->
    retrain (retrain-request Asset) -> the next scoring run uses the version it produced."""
    api = airflow.api
    runs = stack_checks.runs_in_order(api, (RETRAIN_DAG, SCORE_DAG, MONITOR_DAG))
    trace = [(run["dag_id"], run["run_type"], run["state"]) for run in runs]
    print("\n".join(f"{dag_id:32} {kind:16} {state}" for dag_id, kind, state in trace))
    assert trace[0] == (RETRAIN_DAG, "manual", "success")
    # With time schedules on again, the scheduler also starts today's nightly runs, which
    # fail in one line for lack of data: the demo's data is dated March 2026.
    scored = [run for run in runs if run["dag_id"] == SCORE_DAG and run["run_type"] == "manual"]
    monitored = [run for run in runs if run["dag_id"] == MONITOR_DAG]
    assert len(scored) == len(monitored) == NIGHTS
    assert all(run["run_type"] == "asset_triggered" for run in monitored)
    assert all(run["state"] == "success" for run in scored + monitored)
    retrains = [
        run for run in runs if run["dag_id"] == RETRAIN_DAG and run["run_type"] == "asset_triggered"
    ]
    assert retrains and retrains[0]["state"] == "success"
    promoted = api.return_value(RETRAIN_DAG, retrains[0]["dag_run_id"], "register_and_promote")
    later = [run for run in scored if run["start_date"] > retrains[0]["end_date"]]
    if promoted["promoted"] and later:
        used = api.return_value(SCORE_DAG, later[0]["dag_run_id"], "score")
        assert used["version"] == promoted["version"], "the next scoring run used the new champion"


def test_every_listening_socket_binds_to_localhost(airflow: RunningAirflow, user_shell):
    sockets = stack_checks.listening_sockets(user_shell)
    ports = {port for _, port, _ in sockets}
    assert int(user_shell.env["NIGHTJAR_AIRFLOW_PORT"]) in ports
    assert int(user_shell.env["NIGHTJAR_LAKEFS_STANDIN_PORT"]) in ports
    assert [s for s in sockets if s[0] != "127.0.0.1"] == [], sockets


def test_a_second_airflow_on_the_same_port_gets_one_clear_line(airflow, user_shell):
    result = user_shell.run("nightjar", "airflow", timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert f"port {user_shell.env['NIGHTJAR_AIRFLOW_PORT']} on 127.0.0.1 is taken" in result.stderr


def _backfill(shell: UserShell, api, dates: list[dt.date]) -> list[dict]:
    """`airflow backfill create` over ``dates`` as the README gives it; wait until Airflow
    has finished every run and closed the backfill; return the runs."""
    before = {run["dag_run_id"]: run.get("end_date") for run in api.runs(SCORE_DAG)}
    result = shell.run(
        "airflow", "backfill", "create",
        "--dag-id", SCORE_DAG,
        "--from-date", dates[0].isoformat(),
        "--to-date", (dates[-1] + dt.timedelta(days=1)).isoformat(),
        "--max-active-runs", "4",
        "--reprocess-behavior", "completed",
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    def finished() -> list[dict] | None:
        runs = [
            run
            for run in api.runs(SCORE_DAG)
            if run["run_type"] == "backfill"
            and run["state"] in ("success", "failed")
            and run.get("end_date") != before.get(run["dag_run_id"])
        ]
        return runs if len(runs) == len(dates) else None

    runs = wait_until(finished, timeout=2400, interval=10, what="the backfill's runs")

    def closed() -> bool:
        backfills = api.request("GET", "/backfills", params={"dag_id": SCORE_DAG})["backfills"]
        return all(backfill["completed_at"] for backfill in backfills)

    wait_until(closed, timeout=120, interval=3, what="Airflow to close the backfill")
    return runs


@pytest.fixture(scope="module")
def backfill_dates(airflow: RunningAirflow, user_shell) -> list[dt.date]:
    """The backfill's nights on main, in one bulk ingest from a folder of daily files, as a
    data engineer lands a month of history; nightjar_retrain paused meanwhile, so the
    champion stays the one every backfilled night is scored with, and the requests the
    guard makes wait for it."""
    folder = user_shell.workdir / "month"
    folder.mkdir()
    for day in BACKFILL_DATES:
        frame = demo_data.applications_for(day, demo.DEMO_SPEC)
        frame.to_parquet(folder / f"applications-{day}.parquet", index=False)
    result = user_shell.run(
        "nightjar", "data", "ingest", "applications", "--from-folder", str(folder), timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]
    shutil.rmtree(folder)
    airflow.api.set_paused(RETRAIN_DAG, True)
    return BACKFILL_DATES


def _monitored(api, settings: Settings, config, dates: list[dt.date]) -> dict | None:
    """The monitoring runs, once every date is measured and none is still going."""
    counts = stack_checks.drift_rows_per_date(settings, config)
    runs = api.runs(MONITOR_DAG)
    if all(day in counts for day in dates) and all(
        r["state"] in ("success", "failed") for r in runs
    ):
        return {"counts": counts, "runs": runs}
    return None


@pytest.fixture(scope="module")
def first_backfill(airflow: RunningAirflow, user_shell, backfill_dates):
    api = airflow.api
    started = time.monotonic()
    runs = _backfill(user_shell, api, backfill_dates)
    scored = time.monotonic()
    settings = _settings(user_shell)
    config = dataset_config(settings)
    monitored = wait_until(
        lambda: _monitored(api, settings, config, backfill_dates),
        timeout=900, interval=5, what="monitoring of every backfilled date",
    )  # fmt: skip
    ended = max(r["end_date"] for r in monitored["runs"] if r["end_date"])
    last_scored = max(r["end_date"] for r in runs)
    behind = dt.datetime.fromisoformat(ended) - dt.datetime.fromisoformat(last_scored)
    print(
        f"backfill of {len(backfill_dates)} dates, 4 at a time: scored in "
        f"{scored - started:.0f} s; monitoring ended {behind.total_seconds():.0f} s after the "
        f"last scoring run"
    )
    return runs, stack_checks.scored_partitions(settings, config), monitored


def test_backfill_scores_every_date_exactly_once(first_backfill, user_shell, backfill_dates):
    runs, partitions, _ = first_backfill
    succeeded = [run for run in runs if run["state"] == "success"]
    settings = _settings(user_shell)
    config = dataset_config(settings)
    exact = [
        day
        for day in backfill_dates
        if day in partitions
        and partitions[day].num_rows + stack_checks.quarantined_rows(settings, config, day)
        == stack_checks.raw_rows(day, demo.DEMO_SPEC)
    ]
    total = len(backfill_dates)
    print(f"backfill: {len(succeeded)}/{total} runs succeeded, {len(exact)}/{total} exact")
    assert len(succeeded) == total
    assert exact == backfill_dates


def test_every_backfilled_date_is_monitored_by_its_own_run(first_backfill, backfill_dates):
    """One monitoring run per scored date (the scores Asset's partition), runs of different
    dates at once, each date measured once under the version that served it."""
    _, _, monitored = first_backfill
    counts = monitored["counts"]
    assert {day: counts[day] for day in backfill_dates} == dict.fromkeys(backfill_dates, 1)
    runs = [r for r in monitored["runs"] if r.get("partition_key") in map(str, backfill_dates)]
    # A date scored twice is monitored twice (the watcher scores the newest merged date too).
    assert {r["partition_key"] for r in runs} == {str(day) for day in backfill_dates}
    assert [r for r in monitored["runs"] if r["state"] == "failed"] == []
    spans = sorted((r["start_date"], r["end_date"]) for r in runs)
    overlapping = sum(b[0] < a[1] for a, b in itertools.pairwise(spans))
    print(f"{overlapping} of {len(runs) - 1} consecutive monitoring runs overlapped")
    assert overlapping > 0, "monitoring runs of different dates ran one at a time"


@pytest.fixture(scope="module")
def second_backfill(first_backfill, airflow: RunningAirflow, user_shell):
    """Four of the dates backfilled again, and monitored again."""
    runs = _backfill(user_shell, airflow.api, REPEATED_DATES)
    settings = _settings(user_shell)
    config = dataset_config(settings)
    before = {r["dag_run_id"] for r in first_backfill[2]["runs"]}

    def remonitored():
        done = _monitored(airflow.api, settings, config, REPEATED_DATES)
        fresh = done and [r for r in done["runs"] if r["dag_run_id"] not in before]
        return done if fresh and len(fresh) >= len(REPEATED_DATES) else None

    wait_until(remonitored, timeout=600, interval=5, what="monitoring of the repeated dates")
    return runs


def test_a_second_backfill_leaves_identical_partitions(first_backfill, second_backfill, user_shell):
    _, before, _ = first_backfill
    assert all(run["state"] == "success" for run in second_backfill)
    settings = _settings(user_shell)
    config = dataset_config(settings)
    after = stack_checks.scored_partitions(settings, config)
    key = config.entity_key
    changed = [
        day
        for day in REPEATED_DATES
        if stack_checks.partition_digest(before[day], key)
        != stack_checks.partition_digest(after[day], key)
    ]
    assert changed == []


def test_the_decisions_and_requests_are_those_of_one_in_order_nightly_pass(
    second_backfill, user_shell, backfill_dates
):
    """Twelve dates scored four at a time, monitored as each ended, four of them twice: the
    decision in force for every night, and the request log, are what the guard's rule
    gives deciding the same nights one after the other, from an empty log."""
    from nightjar.core.gate_policy import load_policy
    from nightjar.core.retrain_rule import GuardInputs, Thresholds, decide_nights
    from nightjar.io.snapshots import MAIN, Snapshot, resolve_commit
    from nightjar.monitoring import loop_guard, retrain_log

    settings = _settings(user_shell)
    config = dataset_config(settings)
    policy = load_policy(config.gate_policy)
    with EmbeddedStack(settings):
        commit = resolve_commit(make_client(settings), settings.lakefs_repository, MAIN)
        main = Snapshot(settings.lakefs_repository, MAIN, commit)
        events = retrain_log.read_events(settings, config)
        in_order = decide_nights(
            GuardInputs(
                measurements=loop_guard.measurements(
                    settings, config, policy.primary_metric, dag_run_id="test"
                ),
                expected=frozenset(loop_guard.expected_nights(settings, config, main)),
                requests={},  # decided afresh, night after night
                trained_as_of=tuple(loop_guard.trained_as_of(settings, config)),
                outcomes=retrain_log.outcomes(events),
            ),
            config.drift,
            Thresholds(policy.retrain_triggers, policy.min_primary_metric, policy.primary_metric),
        )
    recorded = retrain_log.decisions_in_force(settings, config)
    said = {d.decision_date: (d.fired, d.pending, d.reason) for d in in_order}
    differing = {
        day: (said.get(day), (d.fired, d.pending, d.reason))
        for day, d in recorded.items()
        if said.get(day) != (d.fired, d.pending, d.reason)
    }
    assert differing == {}
    requested = sorted(retrain_log.requests(events))
    assert requested == sorted(d.decision_date for d in in_order if d.fired)
    in_backfill = [day for day in requested if day in backfill_dates]
    print(f"requests in the backfill: {in_backfill}; pending after them: "
          f"{sum(recorded[d].pending for d in backfill_dates)} nights")  # fmt: skip
    assert in_backfill, "the demo's shift goes on: the guard requests a retrain"


def test_each_request_is_consumed_once_when_retraining_resumes(
    second_backfill, airflow: RunningAirflow, user_shell, backfill_dates
):
    """nightjar_retrain unpaused, and the next monitoring run: Airflow queued nothing for
    the requests made while it was paused, so that run raises them again; one retrain run
    per requested night, each recorded in the log as taken (started) and what it made
    (trained, or why not), once."""
    from nightjar.monitoring import retrain_log

    settings = _settings(user_shell)
    config = dataset_config(settings)
    requested = sorted(
        day
        for day in retrain_log.requests(retrain_log.read_events(settings, config))
        if day in backfill_dates
    )
    api = airflow.api
    api.set_paused(RETRAIN_DAG, False)
    assert requested, "the backfill made no request"
    monitor_run = api.trigger(MONITOR_DAG, {"date": backfill_dates[-1].isoformat()})
    assert api.wait_for_run(MONITOR_DAG, monitor_run, timeout=600) == "success"

    def ended() -> list[dict] | None:
        runs = [r for r in api.runs(RETRAIN_DAG) if r.get("partition_key") in map(str, requested)]
        done = len(runs) == len(requested) and all(
            r["state"] in ("success", "failed") for r in runs
        )
        return runs if done else None

    runs = wait_until(ended, timeout=900, interval=5, what="the requested retrains")
    events = retrain_log.read_events(settings, config)
    gate_failed = {str(e.request_date) for e in events if e.event == retrain_log.GATE_FAILED}
    for run in runs:  # a run whose challenger failed the gate is failed; the others succeed
        expected = "failed" if run["partition_key"] in gate_failed else "success"
        assert run["state"] == expected, (run["partition_key"], run["state"])
    for day in requested:
        took = [e for e in events if e.request_date == day and e.event == retrain_log.STARTED]
        made = [
            e
            for e in events
            if e.request_date == day
            and e.event in (retrain_log.TRAINED, retrain_log.GATE_FAILED, retrain_log.DECLINED)
        ]
        assert len(took) == 1 and len(made) == 1, (day, took, made)
        print(f"request {day}: {made[0].event} ({made[0].reason[:80]})")


def test_a_declined_retrain_ends_cleanly_with_its_reason(airflow: RunningAirflow):
    api = airflow.api
    api.set_paused(RETRAIN_DAG, False)  # paused for the backfill
    as_of = demo.FIRST_NIGHT - dt.timedelta(days=1)  # the demo's first model: same as-of date
    run_id = api.trigger(RETRAIN_DAG, {"date": as_of.isoformat(), "intent": "test"})
    assert api.wait_for_run(RETRAIN_DAG, run_id, timeout=300) == "success"
    states = {t["task_id"]: t["state"] for t in api.task_instances(RETRAIN_DAG, run_id)}
    assert states["guard"] == "skipped"
    assert set(states.values()) == {"skipped"}, states
    log = api.request(
        "GET", f"/dags/{RETRAIN_DAG}/dagRuns/{run_id}/taskInstances/guard/logs/1",
        params={"full_content": True},
    )  # fmt: skip
    assert "cooldown" in str(log)


def test_a_killed_score_task_is_retried_and_its_partition_ends_exact(airflow, user_shell):
    """SIGKILL the score task process while it runs; the retry replaces the partition
    whole, and a reader never sees it partial (Delta commits are atomic)."""
    import psutil

    api = airflow.api
    day = KILLED_DAY
    settings = _settings(user_shell)
    config = dataset_config(settings)
    expected = stack_checks.raw_rows(day, demo.DEMO_SPEC) - stack_checks.quarantined_rows(
        settings, config, day
    )
    run_id = api.trigger(SCORE_DAG, {"date": day.isoformat()})

    def score_task_process():
        for task in api.task_instances(SCORE_DAG, run_id):
            if task["task_id"] == "score" and task["state"] == "running" and task.get("pid"):
                return task["pid"]
        return None

    pid = wait_until(score_task_process, timeout=300, interval=0.5, what="the score task")
    psutil.Process(pid).send_signal(signal.SIGKILL)
    seen = []
    while api.run(SCORE_DAG, run_id)["state"] not in ("success", "failed"):
        partition = stack_checks.scored_partitions(settings, config).get(day)
        seen.append(None if partition is None else partition.num_rows)  # None: not written yet
        time.sleep(2)
    assert api.run(SCORE_DAG, run_id)["state"] == "success"
    tries = {t["task_id"]: t["try_number"] for t in api.task_instances(SCORE_DAG, run_id)}
    print(f"killed pid {pid}; score task succeeded on try {tries['score']}; reads {set(seen)}")
    assert tries["score"] >= 2
    assert set(seen) <= {None, expected}, "a reader saw a partial partition"
    assert stack_checks.scored_partitions(settings, config)[day].num_rows == expected


def test_a_failing_task_sends_its_fail_event_with_the_error(airflow, user_shell):
    """With time schedules on, the scheduler starts today's nightly runs, whose tasks fail
    for lack of data (the demo's data is dated March 2026): the provider's listener sends
    each failed try's FAIL event, carrying the error."""

    def failures() -> list[dict]:
        return [
            e
            for e in _events(user_shell)
            if e["eventType"] == "FAIL" and e["job"]["name"].startswith("nightjar_")
        ]

    failed = wait_until(failures, timeout=300, interval=5, what="a task's FAIL event")
    assert [err for e in failed for err in schema_errors(e)] == []
    error = failed[0]["run"]["facets"]["errorMessage"]
    assert error["programmingLanguage"] == "python" and error["message"], error
    print(f"{failed[0]['job']['name']} FAIL: {error['message'][:200]}")


def _scoring_run_fed_by(api, watch_id: str) -> dict:
    """The Asset-triggered scoring run that consumed the event of watcher run ``watch_id``
    (the watcher's own schedule may emit an event of its own too)."""

    def fed():
        for run in api.runs(SCORE_DAG):
            if run["run_type"] != "asset_triggered":
                continue
            path = f"/dags/{SCORE_DAG}/dagRuns/{run['dag_run_id']}/upstreamAssetEvents"
            try:
                events = api.request("GET", path)["asset_events"]
            except AirflowAPIError:  # the API's SQLite store was busy: ask again
                continue
            if any(event["source_run_id"] == watch_id for event in events):
                return run
        return None

    return wait_until(fed, timeout=180, what=f"the scoring run fed by {watch_id}")


def test_a_merge_into_main_triggers_scoring_through_the_watcher(airflow, user_shell):
    api = airflow.api
    day = WATCHED_DAY
    batch = user_shell.workdir / f"applications-{day}.parquet"
    demo_data.applications_for(day, demo.DEMO_SPEC).to_parquet(batch, index=False)
    result = user_shell.run("nightjar", "data", "ingest", "applications", str(day), str(batch))
    assert result.returncode == 0, result.stderr[-3000:]
    batch.unlink()
    api.set_paused(WATCH_DAG, False)
    watch = api.trigger(WATCH_DAG, {})
    assert api.wait_for_run(WATCH_DAG, watch, timeout=300) == "success"
    run = _scoring_run_fed_by(api, watch)
    assert api.wait_for_run(SCORE_DAG, run["dag_run_id"], timeout=300) == "success"
    scored = api.return_value(SCORE_DAG, run["dag_run_id"], "score")
    assert str(day) in [night["score_date"] for night in scored["dates"]]


def _gate_policy(shell: UserShell) -> Path:
    return Path(shell.env["NIGHTJAR_DATASET_CONFIG"]).parents[1] / "policies" / "default.yaml"


def _set_policy(shell: UserShell, **settings: object) -> None:
    """Change settings of the user's gate policy file, as an operator edits it; the next
    task process reads it."""
    path = _gate_policy(shell)
    text = path.read_text()
    for key, value in settings.items():
        text, found = re.subn(rf"^{key}:[ \t]*\S+", f"{key}: {value}", text, flags=re.M)
        assert found == 1, f"{key} is not in {path}"
    path.write_text(text)


def _forced_retrain(api, intent: str, *, ends: str = "success") -> tuple[str, dict[str, str]]:
    run_id = api.trigger(
        RETRAIN_DAG, {"date": FIRST_AS_OF.isoformat(), "force": True, "intent": intent}
    )
    assert api.wait_for_run(RETRAIN_DAG, run_id, timeout=900) == ends
    return run_id, {t["task_id"]: t["state"] for t in api.task_instances(RETRAIN_DAG, run_id)}


def _task_log(api, dag_id: str, run_id: str, task_id: str) -> str:
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/1"
    return str(api.request("GET", path, params={"full_content": True}))


@pytest.fixture(scope="module")
def failed_gate(airflow: RunningAirflow, user_shell) -> str:
    """A retrain whose gate fails: the operator raised the improvement the policy demands
    over the champion to an impossible 0.5, then put it back."""
    original = _gate_policy(user_shell).read_text()
    _set_policy(user_shell, min_improvement_vs_champion=0.5)
    try:
        run_id, states = _forced_retrain(airflow.api, "a stricter gate", ends="failed")
    finally:
        _gate_policy(user_shell).write_text(original)
    # Red in the grid and the API, not green with skipped tasks; nothing registered.
    assert states["evaluate_gate"] == "failed", states
    assert states["register_and_promote"] == "upstream_failed", states
    return run_id


def test_a_failed_gate_stops_promotion_and_its_log_names_the_check(failed_gate, airflow):
    log = _task_log(airflow.api, RETRAIN_DAG, failed_gate, "evaluate_gate")
    assert "promotion stopped by the gate" in log
    assert "roc_auc_improvement_vs_champion" in log


def test_the_failed_gate_a_request_and_a_failed_date_reach_mail_and_webhook(
    failed_gate, notices, airflow
):
    """Through Airflow's notifiers, over the connections in Airflow's secrets backend: the
    failed gate's checks by mail and webhook, the guard's requests (the backfills made
    them) and a nightly run that failed after its retries (today's, for lack of data). The
    connection holds the URL's token-bearing path; the failed gate's task log does not."""
    inbox, recorder = notices
    gate_mail = [body for body in inbox.bodies() if "failed the gate" in body]
    assert gate_mail and "roc_auc_improvement_vs_champion" in gate_mail[-1], inbox.bodies()
    gates = recorder.events("gate_failed")
    assert any(failed_gate in post["text"] for post in gates), gates
    requested = recorder.events("retrain_requested")
    assert requested and all(post["request_date"] for post in requested), recorder.posts
    failed_dates = wait_until(
        lambda: recorder.events("date_failed"), timeout=300, what="a date_failed notice"
    )
    assert failed_dates[0]["dag_id"] == SCORE_DAG, failed_dates
    assert {path for path, _ in recorder.posts} == {"/hooks/T0KEN"}
    assert "T0KEN" not in _task_log(airflow.api, RETRAIN_DAG, failed_gate, "evaluate_gate")
    counts = {kind: len(recorder.events(kind)) for kind in ("gate_failed", "retrain_requested")}
    print(f"{len(inbox.messages)} mails; posts: {counts}, date_failed {len(failed_dates)}")


@pytest.fixture(scope="module")
def awaiting_approval(failed_gate, airflow: RunningAirflow, user_shell) -> str:
    """A retrain whose challenger passes the gate and waits for a person: the policy now
    requires approval and one shadow night. Returns the challenger's version."""
    _set_policy(
        user_shell,
        require_human_approval="true",
        min_shadow_nights=1,
        max_regression_vs_champion=1.0,
        min_improvement_vs_champion=-1.0,
    )
    run_id, states = _forced_retrain(airflow.api, "a challenger for approval")
    assert states["register_and_promote"] == "success", states
    registered = airflow.api.return_value(RETRAIN_DAG, run_id, "register_and_promote")
    settings = _settings(user_shell)
    config = dataset_config(settings)
    challenger = registry.version_for_alias(settings, config.model.name, registry.CHALLENGER)
    assert challenger == str(registered["version"]) and not registered["promoted"], registered
    return challenger


def _lakefs_auth(settings: Settings) -> tuple[str, str]:
    creds = standin_credentials(settings)
    return creds["access_key_id"], creds["secret_access_key"]


@pytest.fixture(scope="module")
def shadow_night(awaiting_approval, airflow: RunningAirflow) -> str:
    """A scoring run after the challenger was registered: it scores the challenger too."""
    run_id = airflow.api.trigger(SCORE_DAG, {"date": SHADOW_DAY.isoformat()})
    assert airflow.api.wait_for_run(SCORE_DAG, run_id, timeout=600) == "success"
    return run_id


def test_the_next_scoring_run_shadow_scores_the_waiting_challenger(
    shadow_night, awaiting_approval, user_shell
):
    settings = _settings(user_shell)
    config = dataset_config(settings)
    shadow = delta_tables.read(
        settings.table_uri(config.table_name("shadow_scores")),
        filters=[("score_date", "=", SHADOW_DAY)],
        columns=["model_version"],
    )
    assert set(shadow.column("model_version").to_pylist()) == {awaiting_approval}


def _land_unscored_day(shell: UserShell, api) -> None:
    """GAP_DAY's applications merged into main with the watcher paused (once its running
    runs end), so nothing scores it: the date an operator finds missing on the page."""
    api.set_paused(WATCH_DAG, True)
    wait_until(
        lambda: all(r["state"] in ("success", "failed") for r in api.runs(WATCH_DAG)),
        timeout=300, what="the watcher's runs to end",
    )  # fmt: skip
    batch = shell.workdir / f"applications-{GAP_DAY}.parquet"
    demo_data.applications_for(GAP_DAY, demo.DEMO_SPEC).to_parquet(batch, index=False)
    result = shell.run("nightjar", "data", "ingest", "applications", str(GAP_DAY), str(batch))
    assert result.returncode == 0, result.stderr[-3000:]
    batch.unlink()


def _failed_scoring_dates(api) -> dict[dt.date, str]:
    """Each date whose newest scoring run failed, and that run, from the REST API once no
    scoring run is still going (asset-triggered runs without a date left out, as the page
    leaves them out)."""
    from nightjar.core.run_info import target_date_of

    def settled() -> list[dict] | None:
        runs = api.runs(SCORE_DAG)
        return runs if all(r["state"] in ("success", "failed") for r in runs) else None

    def when(value: str | None) -> dt.datetime | None:
        return dt.datetime.fromisoformat(value) if value else None

    newest: dict[dt.date, dict] = {}
    for run in wait_until(settled, timeout=600, what="every scoring run to end"):
        if run["run_type"] == "asset_triggered" and "date" not in (run["conf"] or {}):
            continue
        day = target_date_of(
            run["conf"], when(run["data_interval_start"]), when(run["data_interval_end"]),
            when(run["logical_date"]), when(run["run_after"]),
        )  # fmt: skip
        newest[day] = run  # oldest first: the last one kept is the newest
    failed = {day: r["dag_run_id"] for day, r in newest.items() if r["state"] == "failed"}
    assert failed, "no scheduled scoring run failed: today's nightly run should have"
    return failed


@needs_chromium
def test_the_page_shows_the_gap_the_failed_gate_and_the_waiting_challenger_in_chromium(
    awaiting_approval, airflow, user_shell, tmp_path
):
    """The Nightjar page of this scheduler-run world, in Chromium, as the operator reads
    it in the morning: the failed nightly runs, the unscored date with its backfill
    command, the failed gate with its check, the challenger awaiting approval with its
    shadow night, every grid link answering, the charts, and nothing wider than the
    window."""
    api = airflow.api
    _land_unscored_day(user_shell, api)
    failed = _failed_scoring_dates(api)
    settings = _settings(user_shell)
    base = user_shell.base_url
    entity = f"{demo.FIRST_NIGHT:%Y%m%d}-000001"
    browser = chrome(base, api.token)
    try:
        # Today's nightly runs failed (the demo's data is dated March 2026): page 0 starts
        # there, each marked failed and linked to its run.
        browser.get(f"{base}/nightjar/datasets/credit_default/")
        newest = dt.date.fromisoformat(
            browser.find_element("css selector", "#grid tbody tr").get_attribute("id")[5:]
        )
        assert newest == max(failed), (newest, failed)
        for day, run_id in failed.items():
            if newest - day < dt.timedelta(days=60):
                cell = browser.find_elements("css selector", f"#date-{day} td.cell")[2]
                assert cell.get_attribute("data-state") == "failed"
                link = cell.find_element("tag name", "a").get_attribute("href")
                assert link.endswith(f"/dags/{SCORE_DAG}/runs/{run_id}"), link
        page = (newest - GAP_DAY).days // 60
        browser.get(
            f"{base}/nightjar/datasets/credit_default/?page={page}&entity={entity}&date={demo.FIRST_NIGHT}"
        )
        gap = browser.find_element("id", f"date-{GAP_DAY}")
        assert gap.get_attribute("class") == "gap"
        states = [
            c.get_attribute("data-state") for c in gap.find_elements("css selector", "td.cell")
        ]
        assert states[:3] == ["done", "missing", "missing"], states
        scored = browser.find_element("id", f"date-{demo.FIRST_NIGHT}")
        states = [
            c.get_attribute("data-state") for c in scored.find_elements("css selector", "td.cell")
        ]
        assert states[:3] == ["done", "done", "done"], states
        backfill = browser.find_element("id", "backfill").text
        next_day = GAP_DAY + dt.timedelta(days=1)
        assert f"--from-date {GAP_DAY} --to-date {next_day}" in backfill, backfill
        grid_links = {
            a.get_attribute("href") for a in browser.find_elements("css selector", "#grid a")
        }
        assert (
            grid_links and broken_links(grid_links, base, api.token, _lakefs_auth(settings)) == []
        )
        # The failed gate, with the check that failed; the challenger waiting for a person.
        outcomes = [
            row.get_attribute("data-outcome")
            for row in browser.find_elements("css selector", "#gate-table tr.gate")
        ]
        assert outcomes[:2] == ["awaiting", "failed"], outcomes
        gates = browser.find_element("id", "gate-table").text
        assert "FAILED: roc_auc_improvement_vs_champion" in gates, gates
        approval = browser.find_element("id", "approval").text
        assert f"Challenger v{awaiting_approval}: awaiting approval" in approval
        status = browser.find_element("id", "approval-status").text
        assert "on 1 night(s)" in status and "a person's approval" in status, status
        command = browser.find_element("id", "promote-command").text
        assert command == f"nightjar model promote --version {awaiting_approval}"
        shadow = browser.find_element("id", "shadow").find_element(
            "xpath", "following-sibling::table"
        )
        assert str(SHADOW_DAY) in shadow.text
        # Charts with axes and dates; the chain `nightjar explain` prints.
        rows_chart = browser.find_element("id", "rows-chart").text
        assert "rows scored" in rows_chart and re.search(r"\b2026-0[23]-\d\d\b", rows_chart)
        # A dotted line where the serving version changed, if it did in the charts' nights.
        charted = delta_tables.read(
            settings.table_uri(dataset_config(settings).table_name("scores")),
            filters=[("score_date", ">=", demo.FIRST_NIGHT), ("score_date", "<=", GAP_DAY)],
            columns=["score_date", "model_version"],
        ).to_pandas()
        last_nights = charted.groupby("score_date")["model_version"].first().iloc[-30:]
        for version in last_nights.drop_duplicates().iloc[1:]:
            assert f"v{version} from here" in rows_chart
        assert "champion's holdout mean" in browser.find_element("id", "probability-chart").text
        assert "PSI" in browser.find_element("id", "psi-chart").text
        chain = browser.find_element("id", "chain").text
        assert chain.startswith(f"{entity} on {demo.FIRST_NIGHT}: probability"), chain
        assert browser.execute_script("return document.documentElement.scrollWidth") <= WIDTH
        shot = tmp_path / SCREENSHOT.name
        browser.save_screenshot(str(shot))
    finally:
        browser.quit()
    assert shot.stat().st_size > 10_000
    if os.environ.get("NIGHTJAR_UPDATE_SCREENSHOTS"):
        shutil.copyfile(shot, SCREENSHOT)


def _links(api, dag_id: str, run_id: str, task_id: str) -> dict[str, str]:
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/links"
    return api.request("GET", path)["extra_links"]


def test_every_extra_link_of_a_scoring_run_opens_what_it_names(shadow_night, airflow, user_shell):
    """The task's buttons in the Airflow UI: the lakeFS commit it read, the champion's
    MLflow run, registered version and model card, and the night's drift report."""
    import httpx

    api, base = airflow.api, user_shell.base_url
    settings = _settings(user_shell)
    config = dataset_config(settings)
    snapshot = api.return_value(SCORE_DAG, shadow_night, "open_snapshot")
    commit_link = _links(api, SCORE_DAG, shadow_night, "open_snapshot")["lakeFS commit"]
    assert commit_link.endswith(f"/browse/{settings.lakefs_repository}/{snapshot['commit_id']}/")
    page = httpx.get(commit_link, auth=_lakefs_auth(settings), timeout=10)
    assert page.status_code == 200 and "raw/applications" in page.text
    scored = api.return_value(SCORE_DAG, shadow_night, "score")
    links = _links(api, SCORE_DAG, shadow_night, "score")
    mlflow_ui = user_shell.env["NIGHTJAR_MLFLOW_UI_URL"]
    assert links["MLflow run"] == f"{mlflow_ui}/#/runs/{scored['run_id']}"
    assert links["Registered model"] == (
        f"{mlflow_ui}/#/models/{config.model.name}/versions/{scored['version']}"
    )
    version = httpx.get(
        f"{mlflow_ui}/api/2.0/mlflow/model-versions/get",
        params={"name": config.model.name, "version": scored["version"]},
        timeout=10,
    )
    assert version.json()["model_version"]["run_id"] == scored["run_id"]
    assert broken_links({links["MLflow run"]}, base, api.token, ("", "")) == []
    signed_in = {"Authorization": f"Bearer {api.token}"}
    card = httpx.get(f"{base}{links['Model card']}", headers=signed_in, timeout=30)
    assert card.status_code == 200 and f"v{scored['version']}" in card.text
    monitor = next(r for r in api.runs(MONITOR_DAG) if r["state"] == "success")
    report = _links(api, MONITOR_DAG, monitor["dag_run_id"], "measure_drift")["Drift report"]
    page = httpx.get(f"{base}{report}", headers=signed_in, timeout=30)
    assert page.status_code == 200 and "Nightjar drift" in page.text
    assert len(page.text) < 1_000_000  # Evidently's bundle is served beside it, not inlined
    bundle = re.search(r'<script src="(js/evidently-[^"]+\.js)"', page.text)
    assert bundle, "the report does not refer to Evidently's bundle"
    lib_url = f"{base}{report.rsplit('/', 1)[0]}/{bundle[1]}"
    lib = httpx.get(lib_url, headers=signed_in, timeout=30)
    assert lib.status_code == 200 and len(lib.content) > 1_000_000


def test_the_page_and_its_reports_need_airflows_sign_in(airflow, user_shell):
    import httpx

    base = user_shell.base_url
    assert httpx.get(f"{base}/nightjar/", timeout=10).status_code == 401
    assert (
        httpx.get(f"{base}/nightjar/datasets/credit_default/model-card/1", timeout=10).status_code
        == 401
    )


def test_sigterm_stops_every_process_and_leaves_nothing_in_the_working_dir(
    airflow: RunningAirflow, user_shell
):
    assert processes_of(user_shell), "the stack should be running"
    assert airflow.stop(signal.SIGTERM) == 128 + signal.SIGTERM
    assert wait_for_exit_of(user_shell) == []
    assert user_shell.leftovers() == []
    assert not (REPO / "mlflow.db").exists()
