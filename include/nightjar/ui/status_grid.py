"""The per-date status grid: how far the loop got for each date, and how to fill a gap.

One row per date, one cell per stage: raw data on ``main``, features, scores, drift,
labels (the realised metric), retrain decision. Each cell has a state the page colours:

- ``done``: the stage's rows are there (the cell says how many, and links to the record
  behind them: the Airflow task instance, the MLflow run, the lakeFS commit or object);
- ``missing``: an earlier stage is done and this one is not;
- ``failed``: no scores, and the date's newest scoring run failed (the cell links to it);
- ``not_due``: labels for a date the label delay has not passed yet;
- ``none``: nothing is expected (no raw data that day, no retrain decision taken).

Dates whose raw data landed but whose scores did not are the gaps; the grid gives the
``airflow backfill create`` command that fills them. Everything comes from the Delta
tables (DuckDB, bound parameters, only the dates shown) and one listing of the raw
partitions on ``main``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.gate_policy import load_policy
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import dag_id
from nightjar.io import delta_tables

DAYS = 60
STAGES = ("raw", "features", "scores", "drift", "labels", "retrain")
TABLES = (
    "features",
    "quarantine",
    "scores",
    "shadow_scores",
    "drift_metrics",
    "performance_metrics",
    "retrain_decisions",
)  # the tables the grid reads, by kind
BEFORE_SCORING = "before scoring began"


@dataclass(frozen=True)
class Cell:
    state: str
    text: str = ""
    link: str = ""


@dataclass(frozen=True)
class DateRow:
    day: dt.date
    cells: dict[str, Cell]
    since: dt.date | None = None  # set on one row that stands for the days since..day

    @property
    def gap(self) -> bool:
        """Raw data landed, and the date was not scored."""
        return self.cells["raw"].state == "done" and self.cells["scores"].state in (
            "missing",
            "failed",
        )


@dataclass(frozen=True)
class StatusGrid:
    rows: list[DateRow]
    page: int
    has_older: bool
    backfill: list[str] = field(default_factory=list)

    @property
    def gaps(self) -> list[dt.date]:
        return sorted(row.day for row in self.rows if row.gap)


def _ranges(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Consecutive runs of ``days`` (sorted), as (first, last) pairs."""
    ranges: list[tuple[dt.date, dt.date]] = []
    for day in days:
        if ranges and day == ranges[-1][1] + dt.timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def backfill_commands(dataset: str, gaps: list[dt.date]) -> list[str]:
    """The ``airflow backfill create`` commands that score ``dataset``'s ``gaps``, one per
    run of consecutive dates (``--to-date`` is exclusive, as in the README's backfill)."""
    score_dag = dag_id("score", dataset)
    return [
        f"airflow backfill create --dag-id {score_dag} --from-date {first} "
        f"--to-date {last + dt.timedelta(days=1)} --reprocess-behavior failed"
        for first, last in _ranges(gaps)
    ]


def _by_date(connection, sql: str, params: list, keyed_by: tuple[str, ...] = ("day",)) -> dict:
    """The query's rows by their ``day`` (or by the ``keyed_by`` columns, ``day`` first),
    in the query's order."""
    frame = connection.execute(sql, params).fetchdf()
    if frame.empty:
        return {}
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    rows = frame.to_dict("records")
    if keyed_by == ("day",):
        return {row["day"]: row for row in rows}
    return {tuple(row[key] for key in keyed_by): row for row in rows}


@dataclass(frozen=True)
class GridWindow:
    """The dates one page of the grid shows (``first``..``last``), and what bounds them."""

    first: dt.date
    last: dt.date
    oldest: dt.date  # the oldest date anything is known for
    newest: dt.date
    scored: frozenset[dt.date]  # every scored date, from the scores table's log
    page: int

    @property
    def empty(self) -> bool:
        return self.last < self.oldest


def grid_window(
    settings: Settings,
    config: DatasetConfig,
    tables: set[str],
    raw_dates: dict[dt.date, str],
    *,
    failed_runs: dict[dt.date, str] | None = None,
    page: int = 0,
    days: int = DAYS,
) -> GridWindow | None:
    """The ``days`` dates of grid page ``page`` (0: the newest), from the raw partitions on
    ``main``, the scored dates (the scores table's log: no row is read) and the dates
    whose scoring failed (a failed night is news, however new); None when nothing has
    landed, been scored or failed yet."""
    scores = config.table_name("scores")
    scored: set[dt.date] = set()
    if scores in tables:
        scored = delta_tables.partition_dates(settings.table_uri(scores), "score_date")
    known = set(raw_dates) | scored | set(failed_runs or {})
    if not known:
        return None
    newest, oldest = max(known), min(known)
    last = newest - dt.timedelta(days=page * days)
    first = max(oldest, last - dt.timedelta(days=days - 1))
    return GridWindow(first, last, oldest, newest, frozenset(scored), page)


def status_grid(
    settings: Settings,
    config: DatasetConfig,
    connection,
    tables: set[str],
    raw_dates: dict[dt.date, str],
    window: GridWindow,
    failed_runs: dict[dt.date, str] | None = None,
) -> StatusGrid:
    """The grid of ``window``'s dates, newest first. ``raw_dates`` maps each raw partition
    date on ``main`` to a link to it, ``failed_runs`` each date whose newest scoring run
    failed to that run; ``connection`` has views of the tables in ``tables`` covering at
    least the window's dates."""
    from nightjar.airflow.links import lakefs_commit_url, mlflow_run_url

    name = {key: config.table_name(key) for key in TABLES}
    present = {key for key, table in name.items() if table in tables}
    if window.empty:
        return StatusGrid(rows=[], page=window.page, has_older=False)
    first, last, newest = window.first, window.last, window.newest
    # Raw history before the first scored date (what the first model trained on) is not a gap.
    scoring_from = min(window.scored, default=None)
    window_dates = [first, last]

    def rows_of(key: str, sql: str, *extra, keyed_by: tuple[str, ...] = ("day",)) -> dict:
        if key not in present:
            return {}
        query = sql.format(table=name[key])
        return _by_date(connection, query, [*window_dates, *extra], keyed_by)

    def from_log(key: str, *stats: str) -> dict[dt.date, dict]:
        """Row counts of the big tables and the newest commit's metadata of each partition
        (``commit``), from the Delta log alone; ``stats``: values from file statistics."""
        if key not in present:
            return {}
        column = "feature_date" if key == "features" else "score_date"
        uri = settings.table_uri(name[key])
        summaries = delta_tables.partition_summaries(uri, column, first, last, stats)
        commits = delta_tables.partition_commits(uri, column, first, last)
        return {day: {**row, "commit": commits.get(day, {})} for day, row in summaries.items()}

    features = from_log("features")
    quarantined = rows_of(
        "quarantine",
        "SELECT partition_date AS day, count(*) AS n FROM {table} "
        "WHERE partition_date BETWEEN ?::VARCHAR AND ?::VARCHAR GROUP BY 1",
    )
    scores = from_log("scores", "model_run_id")  # MLflow run ids: 32 characters, whole
    shadow = from_log("shadow_scores")
    # One measurement per (date, version): the grid shows the version that served the
    # night, else the newest version that measured it.
    drift_by_version = rows_of(
        "drift_metrics",
        "SELECT score_date AS day, model_version AS version, "
        "count(*) FILTER (WHERE drifted AND feature <> 'probability') AS drifted, "
        "count(*) FILTER (WHERE feature <> 'probability') AS measured FROM {table} "
        "WHERE score_date BETWEEN ? AND ? GROUP BY 1, 2 ORDER BY 1, length(version), version",
        keyed_by=("day", "version"),
    )
    metric = load_policy(config.gate_policy).primary_metric
    labels = rows_of(
        "performance_metrics",
        "SELECT score_date AS day, any_value(value) AS value FROM {table} "
        "WHERE score_date BETWEEN ? AND ? AND segment = 'overall' AND metric = ? GROUP BY 1",
        metric,
    )
    # Appended to: the newest decision of each night is in force (a home whose table
    # predates that has one row a night, and no decided_at yet).
    appended = "retrain_decisions" in present and {"decided_at", "pending"} <= set(
        delta_tables.column_names(settings.table_uri(name["retrain_decisions"]))
    )
    decisions = rows_of(
        "retrain_decisions",
        "SELECT decision_date AS day, arg_max(fired, decided_at) AS fired, "
        "arg_max(coalesce(pending, false), decided_at) AS pending, "
        "arg_max(reason, decided_at) AS reason "
        "FROM {table} WHERE decision_date BETWEEN ? AND ? GROUP BY 1"
        if appended
        else "SELECT decision_date AS day, bool_or(fired) AS fired, false AS pending, "
        "any_value(reason) AS reason FROM {table} WHERE decision_date BETWEEN ? AND ? GROUP BY 1",
    )
    labels_due_by = newest - dt.timedelta(days=config.label.delay_days)
    reports = settings.reports_dir(config.name)
    repository = settings.lakefs_repository
    rows = []
    day = last
    while day >= first:
        raw = day in raw_dates
        cells = {"raw": Cell("done", "on main", raw_dates[day]) if raw else Cell("none", "no data")}
        due = raw and scoring_from is not None and day >= scoring_from
        expect = "missing" if due else "none"
        if day in features:
            f = features[day]
            text = f"{f['rows']:,} rows"
            if day in quarantined:
                text += f", {int(quarantined[day]['n']):,} quarantined"
            commit = f["commit"].get(delta_tables.LAKEFS_COMMIT_KEY, "")
            link = lakefs_commit_url(settings, repository, commit) if commit else ""
            cells["features"] = Cell("done", text, link)
        else:
            cells["features"] = Cell(expect, "" if due or not raw else BEFORE_SCORING)
        if day in scores:
            s = scores[day]
            text = f"{s['rows']:,} rows, v{s['commit'].get('nightjar.model_version', '?')}"
            if day in shadow:
                text += f" (shadow v{shadow[day]['commit'].get('nightjar.model_version', '?')})"
            run = s["commit"].get("nightjar.dag_run_id", "")
            link = f"/dags/{dag_id('score', config.name)}/runs/{run}/tasks/score" if run else ""
            cells["scores"] = Cell("done", text, link)
        elif day in (failed_runs or {}):
            cells["scores"] = Cell("failed", "run failed", failed_runs[day])
        else:
            cells["scores"] = Cell(expect)
        scored = day in scores
        measured = {version: row for (on, version), row in drift_by_version.items() if on == day}
        if measured:
            served = scores[day]["commit"].get("nightjar.model_version") if scored else None
            version = served if served in measured else list(measured)[-1]
            d = measured[version]
            state = "breached" if d["drifted"] else "done"
            name = f"drift-{config.name}-{day.isoformat()}.html"
            text = f"{int(d['drifted'])}/{int(d['measured'])} drifted (v{version})"
            # Reports past drift.report_retention_days are deleted; the metrics stay.
            kept = (reports / name).is_file()
            cells["drift"] = Cell(
                state, text, f"/nightjar/datasets/{config.name}/reports/{name}" if kept else ""
            )
        else:
            cells["drift"] = Cell("missing" if scored else "none")
        if day in labels:
            value = labels[day]["value"]
            runs = sorted(scores[day]["model_run_id"]) if scored else []
            link = mlflow_run_url(settings, runs[0]) if len(runs) == 1 else ""
            cells["labels"] = Cell("done", f"{metric} {value:.3f}", link)
        elif scored and day > labels_due_by:
            cells["labels"] = Cell("not_due", "not yet due")
        else:
            cells["labels"] = Cell("missing" if scored else "none")
        if day in decisions:
            fired, pending = bool(decisions[day]["fired"]), bool(decisions[day]["pending"])
            if pending:
                cells["retrain"] = Cell("not_due", "pending")
            else:
                text = "retrain requested" if fired else "no retrain"
                cells["retrain"] = Cell("fired" if fired else "done", text)
        else:
            cells["retrain"] = Cell("none")
        rows.append(DateRow(day, cells))
        day -= dt.timedelta(days=1)
    gaps = sorted(row.day for row in rows if row.gap)
    rows = _quiet_days_as_one_row(_history_as_one_row(rows))
    return StatusGrid(
        rows, window.page, first > window.oldest, backfill_commands(config.name, gaps)
    )


def _history_as_one_row(rows: list[DateRow]) -> list[DateRow]:
    """The days of raw history before scoring began (newest first, at the end of ``rows``)
    as one row: they are what the first model trained on, and nothing is due for them."""
    before = [row for row in rows if row.cells["features"].text == BEFORE_SCORING]
    if len(before) < 2:
        return rows
    kept = [row for row in rows if row.cells["features"].text != BEFORE_SCORING]
    span = f"{len(before)} days of raw history on main, before scoring began"
    history = Cell("history", span, before[0].cells["raw"].link)
    return [*kept, DateRow(before[0].day, {"raw": history}, since=before[-1].day)]


def _quiet_days_as_one_row(rows: list[DateRow]) -> list[DateRow]:
    """Each run of two or more consecutive days on which nothing landed and nothing was
    due (every cell ``none``) as one row, so the dates that matter stay on screen."""
    merged: list[DateRow] = []
    quiet: list[DateRow] = []

    def close() -> None:
        if len(quiet) >= 2:
            text = f"{len(quiet)} days: no raw data on main, nothing scored"
            merged.append(DateRow(quiet[0].day, {"raw": Cell("none", text)}, since=quiet[-1].day))
        else:
            merged.extend(quiet)
        quiet.clear()

    for row in rows:
        if row.since is None and all(cell.state == "none" for cell in row.cells.values()):
            quiet.append(row)
            continue
        close()
        merged.append(row)
    close()
    return merged
