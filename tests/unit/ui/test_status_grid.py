"""The status grid on Delta tables written for it: a scored run of dates with one left
unscored, drift on the scored ones, a retrain decision."""

import datetime as dt

import pyarrow as pa

from nightjar.core.settings import Settings
from nightjar.io import delta_tables
from nightjar.io.analytics import connect, table_names
from nightjar.ui.status_grid import Cell, backfill_commands, grid_window, status_grid

DAYS = [dt.date(2026, 3, 1) + dt.timedelta(days=i) for i in range(5)]
UNSCORED = DAYS[2]


def _write(settings: Settings, table: str, rows: list[dict], column: str) -> None:
    """Each date's rows as the pipeline writes them: one partition replace per date, its
    commit carrying the metadata the scorer and the feature job record."""
    for day in sorted({row[column] for row in rows}):
        part = [row for row in rows if row[column] == day]
        metadata = {
            "nightjar.dag_run_id": part[0].get("dag_run_id", ""),
            "nightjar.model_version": part[0].get("model_version", ""),
            delta_tables.LAKEFS_COMMIT_KEY: part[0].get("lakefs_commit", ""),
        }
        delta_tables.replace_partition(
            settings.table_uri(table), pa.Table.from_pylist(part), partition_column=column,
            value=day, commit_metadata={k: v for k, v in metadata.items() if v},
        )  # fmt: skip


def test_a_date_with_raw_data_and_no_scores_is_a_gap_with_its_backfill(tmp_path, config):
    settings = Settings(home=tmp_path)
    scored = [d for d in DAYS if d != UNSCORED]
    _write(settings, config.table_name("features"), [
        {"feature_date": d, config.entity_key: f"e{i}", "lakefs_commit": "c" * 64}
        for d in DAYS for i in range(3)
    ], "feature_date")  # fmt: skip
    _write(settings, config.table_name("scores"), [
        {"score_date": d, config.entity_key: f"e{i}", "model_version": "1",
         "dag_run_id": f"run-{d}", "model_run_id": "r1", "probability": 0.1, "decision": False}
        for d in scored for i in range(3)
    ], "score_date")  # fmt: skip
    _write(settings, config.table_name("drift_metrics"), [
        {"score_date": d, "feature": f, "drifted": d == DAYS[-1] and f == "age",
         "model_version": "1"}
        for d in scored for f in ("age", "region")
    ], "score_date")  # fmt: skip
    _write(settings, config.table_name("retrain_decisions"), [
        {"decision_date": DAYS[-1], "fired": True, "reason": "drift"},
    ], "decision_date")  # fmt: skip
    reports = settings.reports_dir(config.name)
    reports.mkdir(parents=True)
    (reports / f"drift-{config.name}-{DAYS[-1]}.html").write_text("<html>")  # older: pruned
    tables = set(table_names(settings))
    raw = {d: f"/raw/{d}" for d in DAYS}
    window = grid_window(settings, config, tables, raw)
    grid = status_grid(settings, config, connect(settings, only=tables), tables, raw, window)

    assert [row.day for row in grid.rows] == DAYS[::-1]  # newest first
    assert grid.gaps == [UNSCORED]
    assert grid.backfill == [
        "airflow backfill create --dag-id nightjar_score__credit_default --from-date 2026-03-03 "
        "--to-date 2026-03-04 --reprocess-behavior failed"
    ]
    by_day = {row.day: row.cells for row in grid.rows}
    assert by_day[UNSCORED]["scores"].state == "missing"
    assert by_day[UNSCORED]["features"].state == "done"  # the features ran; scoring did not
    assert by_day[UNSCORED]["drift"].state == "none"
    newest = by_day[DAYS[-1]]
    assert newest["scores"].text == "3 rows, v1"
    assert (
        newest["scores"].link
        == f"/dags/nightjar_score__credit_default/runs/run-{DAYS[-1]}/tasks/score"
    )
    assert (newest["drift"].state, newest["drift"].text) == ("breached", "1/2 drifted (v1)")
    assert (
        newest["drift"].link
        == f"/nightjar/datasets/{config.name}/reports/drift-{config.name}-{DAYS[-1]}.html"
    )
    assert by_day[DAYS[0]]["drift"].link == ""  # its report was pruned; the metrics stay
    assert newest["retrain"].state == "fired"
    assert newest["labels"].state == "not_due"
    assert by_day[DAYS[0]]["raw"].link == f"/raw/{DAYS[0]}"
    # The features cell links to the lakeFS commit its partition's commit recorded.
    assert by_day[DAYS[0]]["features"].link.endswith(f"/browse/nightjar/{'c' * 64}/")


def test_backfill_commands_cover_each_run_of_consecutive_gaps():
    gaps = [dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 5)]
    assert [
        c.split("--from-date ")[1].split(" --reprocess")[0]
        for c in backfill_commands("credit_default", gaps)
    ] == [
        "2026-01-01 --to-date 2026-01-03",
        "2026-01-05 --to-date 2026-01-06",
    ]


def test_raw_history_before_scoring_began_is_one_row(tmp_path, config):
    settings = Settings(home=tmp_path)
    _write(settings, config.table_name("scores"), [
        {"score_date": DAYS[-1], config.entity_key: "e", "model_version": "1",
         "dag_run_id": "r", "model_run_id": "m"},
    ], "score_date")  # fmt: skip
    tables = set(table_names(settings))
    raw = {d: f"/raw/{d}" for d in DAYS}
    window = grid_window(settings, config, tables, raw)
    grid = status_grid(settings, config, connect(settings, only=tables), tables, raw, window)
    assert [row.day for row in grid.rows] == [DAYS[-1], DAYS[-2]]
    history = grid.rows[-1]
    assert (history.since, history.day) == (DAYS[0], DAYS[-2])
    assert history.cells["raw"].text == "4 days of raw history on main, before scoring began"
    assert grid.gaps == [] and grid.backfill == []


def test_a_failed_scoring_run_is_marked_failed_and_quiet_days_are_one_row(tmp_path, config):
    """A date whose newest scoring run failed shows the run, and stays a gap to backfill; a
    failure after weeks of nothing brings the window to it, the quiet weeks folded."""
    settings = Settings(home=tmp_path)
    _write(settings, config.table_name("scores"), [
        {"score_date": d, config.entity_key: "e", "model_version": "1", "dag_run_id": "r",
         "model_run_id": "m"}
        for d in DAYS[:2]
    ], "score_date")  # fmt: skip
    tables = set(table_names(settings))
    raw = {d: f"/raw/{d}" for d in DAYS}
    today = DAYS[-1] + dt.timedelta(days=20)
    failed = {
        DAYS[2]: "/dags/nightjar_score__credit_default/runs/manual__x",
        today: "/dags/nightjar_score__credit_default/runs/s",
    }
    window = grid_window(settings, config, tables, raw, failed_runs=failed)
    grid = status_grid(
        settings, config, connect(settings, only=tables), tables, raw, window, failed
    )
    by_day = {row.day: row for row in grid.rows}
    assert (window.newest, grid.rows[0].day) == (today, today)
    assert by_day[today].cells["scores"] == Cell("failed", "run failed", failed[today])
    assert by_day[DAYS[2]].cells["scores"].link == failed[DAYS[2]]
    assert DAYS[2] in grid.gaps and today not in grid.gaps  # no raw data: nothing to backfill
    quiet = by_day[today - dt.timedelta(days=1)]
    assert quiet.since == DAYS[-1] + dt.timedelta(days=1)
    assert quiet.cells["raw"].text == "19 days: no raw data on main, nothing scored"
