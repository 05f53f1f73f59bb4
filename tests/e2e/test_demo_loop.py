"""The whole loop through Airflow's dag.test() on the embedded stack."""

import datetime as dt

import pandas as pd
import pytest

from nightjar.core.errors import MissingInputError
from nightjar.core.vocabulary import dag_id
from nightjar.embedded.demo import FIRST_NIGHT, InProcessRunner
from nightjar.io import tracking
from nightjar.io.analytics import run_query, versions_at_commits
from nightjar.promotion import registry

from .conftest import DEMO_SCORES_VERSION, E2E_NIGHTS

pytestmark = pytest.mark.e2e
NIGHTS = [FIRST_NIGHT + dt.timedelta(days=i) for i in range(E2E_NIGHTS)]
LINEAGE = [
    "model_name",
    "model_version",
    "model_run_id",
    "lakefs_commit",
    "feature_spec",
    "dag_run_id",
    "logical_date",
    "data_interval_end",
    "scored_at",
]


def _scores(settings, config, day) -> pd.DataFrame:
    return run_query(
        settings,
        f"SELECT * FROM {config.table_name('scores')} "
        f"WHERE score_date = DATE '{day}' ORDER BY application_id",
    )


def test_a_champion_was_trained_gated_and_promoted(demo_world, config):
    version = registry.version_for_alias(demo_world, config.model.name, registry.CHAMPION)
    assert version is not None
    moves = registry.history(demo_world, config.model.name)
    assert (moves["alias"] == registry.CHAMPION).sum() >= 1
    assert moves.iloc[-1]["to_version"] == version


def test_every_night_has_one_partition_with_full_lineage(demo_world, config):
    table = config.table_name("scores")
    sql = (
        f"SELECT score_date, count(*) AS n, count(DISTINCT application_id) AS ids "
        f"FROM {table} GROUP BY 1 ORDER BY 1"
    )
    # The table exactly as the demo left it (later tests, e.g. the UI test's scheduler
    # scoring a date a lakeFS merge touched, add partitions of their own).
    after_demo = run_query(demo_world, sql, {table: DEMO_SCORES_VERSION["version"]})
    assert [d.date() if hasattr(d, "date") else d for d in after_demo["score_date"]] == NIGHTS
    for counts in (after_demo, run_query(demo_world, sql)):
        assert (counts["n"] == counts["ids"]).all(), "duplicates in the scores table"
    scores = _scores(demo_world, config, NIGHTS[0])
    assert scores[LINEAGE].notna().all().all()
    assert scores["lakefs_commit"].str.fullmatch(r"[0-9a-f]{64}|[0-9a-f]+").all()
    assert scores["probability"].between(0, 1).all()


def test_drift_metrics_and_retrain_decisions_are_recorded(demo_world, config):
    drift = run_query(demo_world, f"SELECT * FROM {config.table_name('drift_metrics')}")
    assert set(drift["feature"]) >= set(config.feature_names) | {"probability"}
    from nightjar.monitoring.retrain_log import decisions_in_force

    decisions = decisions_in_force(demo_world, config)
    assert len(decisions) == E2E_NIGHTS and all(d.reason for d in decisions.values())


def test_rescoring_a_date_three_times_gives_the_same_partition(demo_world, config):
    """Reruns of a date replace its partition: same rows, no duplicates, fresh lineage.

    Later nights have reached lakeFS main since the first scoring of this date, so the
    reruns pin a newer commit; the date's data, and so every score, is unchanged.
    """
    day = NIGHTS[0]
    original = _scores(demo_world, config, day)
    reruns = []
    for _ in range(3):
        assert (
            "success"
            in InProcessRunner(config.name).run(dag_id("score", config.name), day, {}).lower()
        )
        reruns.append(_scores(demo_world, config, day))
    run_specific = ["dag_run_id", "logical_date", "data_interval_end", "scored_at"]
    for rerun in reruns[1:]:
        pd.testing.assert_frame_equal(
            reruns[0].drop(columns=run_specific), rerun.drop(columns=run_specific)
        )
    per_run = [*run_specific, "lakefs_commit"]
    pd.testing.assert_frame_equal(original.drop(columns=per_run), reruns[-1].drop(columns=per_run))
    assert reruns[-1]["application_id"].is_unique
    assert reruns[-1]["dag_run_id"].nunique() == 1
    assert reruns[-1][LINEAGE].notna().all().all()


def test_delayed_label_metrics_appear_once_labels_land(demo_world, config):
    from nightjar.core.run_info import RunInfo
    from nightjar.embedded import demo
    from nightjar.pipeline import monitor

    from .conftest import E2E_SPEC

    window = NIGHTS[0] + dt.timedelta(days=config.label.delay_days)
    run = RunInfo(
        "nightjar_monitor",
        "test__labels",
        f"{window}T00:00:00",
        window,
        dt.datetime.combine(window, dt.time(), dt.UTC),
    )
    snapshot = monitor.open_snapshot(run)
    not_yet = monitor.measure_performance(run, snapshot)
    assert not_yet.nights == {}, "no scored night's labels are due yet"
    demo.ingest_days(demo_world, config, [window], spec=E2E_SPEC)
    snapshot = monitor.open_snapshot(
        RunInfo("nightjar_monitor", "test__labels2", run.logical_date, window, run.interval_end)
    )
    measured = monitor.measure_performance(run, snapshot).nights
    assert list(measured) == [NIGHTS[0]], "the night whose labels landed, and only it"
    assert measured[NIGHTS[0]].rows > 0
    again = monitor.measure_performance(run, snapshot).nights
    assert again == {}, "a measured night is measured again only when its labels change"
    metrics = run_query(demo_world, f"SELECT * FROM {config.table_name('performance_metrics')}")
    assert set(metrics["segment"]) >= {"overall", "region=west"}
    assert (metrics["score_date"].astype(str) == str(NIGHTS[0])).all()


def test_analysts_get_friendly_view_names(demo_world, config):
    friendly = run_query(demo_world, "SELECT count(*) AS n FROM scores")
    full = run_query(demo_world, f"SELECT count(*) AS n FROM {config.table_name('scores')}")
    assert friendly["n"][0] == full["n"][0] > 0


def test_analysts_time_travel_to_what_a_lakefs_commit_produced(demo_world, config):
    from nightjar.io import delta_tables

    table = config.table_name("scores")
    # The first night was scored from the commit its ingest made (later tests re-score it).
    first_write = delta_tables.open_table(demo_world.table_uri(table)).history()[-1]
    first_commit = first_write[delta_tables.LAKEFS_COMMIT_KEY]
    pinned = versions_at_commits(demo_world, {table: first_commit[:12]})
    then = run_query(demo_world, f"SELECT DISTINCT score_date, lakefs_commit FROM {table}", pinned)
    now = run_query(demo_world, f"SELECT DISTINCT score_date FROM {table}")
    assert pinned == {table: 0}
    assert then["lakefs_commit"].tolist() == [first_commit]
    assert len(then) == 1 < len(now), "the table as the first night's commit left it"
    with pytest.raises(MissingInputError, match="no version"):
        versions_at_commits(demo_world, {table: "0" * 12})


def test_re_monitoring_a_date_keeps_one_report_run(demo_world, config):
    assert (
        "success"
        in InProcessRunner(config.name).run(dag_id("monitor", config.name), NIGHTS[0], {}).lower()
    )
    experiment = tracking.ensure_experiment(demo_world, f"{config.name}-monitoring")
    runs = tracking.client(demo_world).search_runs(
        [experiment], filter_string=f"tags.`nightjar.score_date` = '{NIGHTS[0]}'"
    )
    assert len(runs) == 1


MLFLOW_FIRST_STEPS = """
import sys
from nightjar.scoring.scorer import resolve_alias
from nightjar.core.settings import load_settings
from nightjar.training.trainer import load_categories
from nightjar.io import tracking

settings = load_settings()
# What a fresh task process does first: read the champion's run, before anything else.
categories = load_categories(settings, sys.argv[1])
as_of = tracking.client(settings).get_run(sys.argv[1]).data.params["as_of"]
champion = resolve_alias(settings, sys.argv[2], "champion")
print(len(categories), as_of, champion.version)
"""


def test_a_fresh_process_reads_nightjars_store_and_leaves_no_files(demo_world, config, tmp_path):
    """The flaw that scored no date under the scheduler: a fresh process whose first MLflow
    call went to MLflow's default store (``./mlflow.db``) instead of Nightjar's."""
    import os
    import subprocess
    import sys

    champion = registry.version_for_alias(demo_world, config.model.name, registry.CHAMPION)
    run_id = tracking.client(demo_world).get_model_version(config.model.name, champion)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ["HOME"],
        **{k: v for k, v in os.environ.items() if k.startswith("NIGHTJAR_")},
    }
    result = subprocess.run(
        [sys.executable, "-c", MLFLOW_FIRST_STEPS, run_id.run_id, config.model.name],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-1] == champion
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "files left in the working dir"
