"""Nightjar's lakeFS workflow over the embedded stand-in: ingest, snapshots, failures."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import lakefs
import pytest

from nightjar.core.errors import DataValidationError, LakeFSUnavailableError
from nightjar.embedded import demo_data
from nightjar.ingest.landing import Batch, ingest, protect_main
from nightjar.io import snapshots
from nightjar.io.lakefs_client import call_with_retry, make_client

REPO = "nightjar-workflow"  # its own repository: other tests land data in "nightjar"
DAY = dt.date(2026, 1, 10)


@pytest.fixture(scope="module")
def client(settings, embedded_stack):
    lakefs_client = make_client(settings)
    snapshots.ensure_repository(lakefs_client, REPO, f"local://{REPO}")
    protect_main(lakefs_client, REPO)
    return lakefs_client


def _main_head(client) -> str:
    return snapshots.resolve_commit(client, REPO, "main")


def test_main_is_protected_and_bad_data_never_reaches_it(client, config):
    with pytest.raises(lakefs.exceptions.ForbiddenException):
        lakefs.Repository(REPO, client=client).branch("main").object("x").upload(b"x")
    before = _main_head(client)
    bad = demo_data.applications_for(DAY, demo_data.DemoSpec(rows_per_day=200))
    bad["income"] = -1.0
    with pytest.raises(DataValidationError, match="income"):
        ingest(
            client,
            config,
            REPO,
            "ingest-bad",
            [Batch("applications", DAY, bad)],
            message="bad",
            metadata={},
        )
    assert _main_head(client) == before


def test_reingesting_the_same_batch_changes_nothing(client, config):
    batch = Batch(
        "applications", DAY, demo_data.applications_for(DAY, demo_data.DemoSpec(rows_per_day=200))
    )
    ingest(client, config, REPO, "ingest-a", [batch], message="a", metadata={})
    head = _main_head(client)
    assert ingest(client, config, REPO, "ingest-a", [batch], message="a", metadata={}) is None
    assert _main_head(client) == head


def test_a_run_reads_its_pinned_commit_while_main_moves(client, config):
    run = snapshots.open_run_snapshot(client, REPO, "nightjar_score", "manual__pin")
    later = DAY + dt.timedelta(days=1)
    ingest(
        client,
        config,
        REPO,
        "ingest-later",
        [
            Batch(
                "applications",
                later,
                demo_data.applications_for(later, demo_data.DemoSpec(rows_per_day=50)),
            )
        ],
        message="later",
        metadata={},
    )
    assert _main_head(client) != run.commit_id
    pinned = {o.path for o in lakefs.Repository(REPO, client=client).ref(run.commit_id).objects()}
    assert not any(f"date={later}" in p for p in pinned)
    again = snapshots.open_run_snapshot(client, REPO, "nightjar_score", "manual__pin")
    assert again == run, "a retry of the same run pins the same commit"


_KILLED_INGEST = """
import datetime as dt, sys, time
from nightjar.embedded import demo_data
from nightjar.io import snapshots
from nightjar.core.datasets import dataset_config
from nightjar.ingest.landing import Batch, ingest
from nightjar.io.lakefs_client import make_client
from nightjar.core.settings import load_settings

def stall(*args, **kwargs):
    print("committed on the branch; merge pending", flush=True)
    time.sleep(120)

if sys.argv[1] == "kill":
    snapshots.merge_into_main = stall  # the kill point: after commit, before merge
settings = load_settings()
day = dt.date(2026, 1, 20)
ingest(make_client(settings), dataset_config(settings), sys.argv[2],
       "ingest-killed", [Batch("applications", day, demo_data.applications_for(
           day, demo_data.DemoSpec(rows_per_day=100)))], message="m", metadata={})
print("merged", flush=True)
"""


def test_a_run_killed_between_commit_and_merge_leaves_main_unchanged(client, tmp_path):
    script = tmp_path / "ingest.py"
    script.write_text(_KILLED_INGEST)
    before = _main_head(client)
    proc = subprocess.Popen(
        [sys.executable, str(script), "kill", REPO],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        if "merge pending" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert _main_head(client) == before
    branch = lakefs.Repository(REPO, client=client).branch("ingest-killed")
    assert branch.get_commit().id != before, "the killed run had committed on its branch"
    retry = subprocess.run(
        [sys.executable, str(script), "retry", REPO],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    assert retry.returncode == 0, retry.stderr[-2000:]
    assert _main_head(client) != before
    paths = [
        o.path
        for o in lakefs.Repository(REPO, client=client)
        .ref("main")
        .objects(prefix="raw/applications/date=2026-01-20/")
    ]
    assert paths == ["raw/applications/date=2026-01-20/part-0.parquet"]


def test_old_run_branches_are_pruned(client):
    snapshots.open_run_snapshot(client, REPO, "nightjar_score", "manual__old")
    pruned = snapshots.prune_run_branches(
        client, REPO, older_than=dt.timedelta(0), now=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    )
    assert any("manual__old" in b for b in pruned)
    assert not [b for b in lakefs.Repository(REPO, client=client).branches(prefix="run-")]


def test_an_unreachable_lakefs_is_retried_then_named(settings):
    dead = lakefs.Client(host="http://127.0.0.1:9", username="a", password="b")
    repo = lakefs.Repository(REPO, client=dead)
    with pytest.raises(
        LakeFSUnavailableError, match=r"127\.0\.0\.1:9.*after 2 attempt\(s\) \(Connection refused\)"
    ):
        call_with_retry(
            dead, lambda: repo.branch("main").get_commit(), what="read main", attempts=2
        )


def test_commits_on_main_name_the_scoring_dates_they_changed(client, config):
    from nightjar.ingest.raw_changes import raw_changes

    spec = demo_data.DemoSpec(rows_per_day=200)
    days = [dt.date(2026, 1, 20), dt.date(2026, 1, 21)]
    time.sleep(1.1)  # commit times are whole seconds: leave earlier tests' commits behind
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    apps = [Batch("applications", d, demo_data.applications_for(d, spec)) for d in days]
    ingest(client, config, REPO, "ingest-watch-a", apps, message="two days", metadata={})
    labels_day = dt.date(2026, 1, 22)
    labels = [Batch("labels", labels_day, demo_data.labels_arriving_on(labels_day, spec))]
    ingest(client, config, REPO, "ingest-watch-b", labels, message="labels", metadata={})
    end = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)

    changes = raw_changes(client, REPO, config, start, end)
    assert changes.dates == days, "label-only commits request no scoring"
    assert len(changes.commits) == 1
    assert raw_changes(client, REPO, config, start, end) == changes, "same window, same answer"
    assert raw_changes(client, REPO, config, end, end + dt.timedelta(hours=1)).dates == []
