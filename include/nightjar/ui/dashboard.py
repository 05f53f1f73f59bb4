"""The Nightjar page: champion, last nights, drift, retrain decisions, per-entity lineage.

Server-rendered HTML with inline SVG charts: no JavaScript, no CDN, works offline. It
reads the same Delta tables and registry as the CLI, through ``analytics`` and
``registry``; there is no second source of truth. User input (a date or an entity id)
is validated and only ever reaches DuckDB as a bound parameter.
"""

from __future__ import annotations

import datetime as dt
import html
import json

import pandas as pd

from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.settings import Settings
from nightjar.evaluation.gate import APPROVAL_LOG
from nightjar.io.analytics import connect, table_names
from nightjar.promotion import registry

NIGHTS = 30
_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1b1f24;max-width:1100px}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:1.6rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85rem} td,th{padding:.2rem .6rem;text-align:left}
tr:nth-child(even){background:#f6f8fa} .ok{color:#1a7f37} .bad{color:#cf222e;font-weight:600}
.cards{display:flex;gap:1rem} .card{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem}
code{font-size:.8rem}
"""


def _table(frame: pd.DataFrame, limit: int = 50) -> str:
    if frame.empty:
        return "<p>nothing recorded yet</p>"
    return frame.head(limit).to_html(index=False, escape=True, border=0)


def _bars(
    values: pd.Series, labels: pd.Series, *, height: int = 120, colour: str = "#0969da"
) -> str:
    """A small SVG bar chart."""
    if values.empty:
        return ""
    width = max(16, 700 // len(values))
    top = float(values.max()) or 1.0
    bars = []
    for i, (value, label) in enumerate(zip(values, labels, strict=True)):
        h = int(height * float(value) / top)
        bars.append(
            f"<rect x='{i * width}' y='{height - h}' width='{width - 2}' height='{h}' "
            f"fill='{colour}'><title>{html.escape(str(label))}: {value:,.4g}</title></rect>"
        )
    return (
        f"<svg role='img' width='{width * len(values)}' height='{height}'>"
        + "".join(bars)
        + "</svg>"
    )


def _window_start(settings: Settings, table: str) -> dt.date:
    """First of the last ``NIGHTS`` score dates, from the Delta log alone (no data read), so
    the page's queries touch only those partitions however long the history is."""
    from nightjar.io import delta_tables

    actions = delta_tables.open_table(settings.table_uri(table)).get_add_actions(flatten=True)
    dates = sorted({str(v) for v in actions.column("partition.score_date").to_pylist()})
    return dt.date.fromisoformat(dates[-NIGHTS] if len(dates) >= NIGHTS else dates[0])


def _shadow_section(settings: Settings, config: DatasetConfig, challenger: str) -> list[str]:
    """The challenger's nightly shadow comparison, the evidence for promoting it."""
    from nightjar.scoring import shadow

    nights = shadow.history(settings, config, challenger).tail(NIGHTS).iloc[::-1]
    if nights.empty:
        return [f"<h2>Challenger v{html.escape(challenger)}</h2><p>no shadow nights yet</p>"]
    return [
        f"<h2 id='shadow'>Challenger v{html.escape(challenger)} in shadow</h2>",
        _table(nights[shadow.SUMMARY_COLUMNS].round(4)),
    ]


def _query(connection, sql: str, params: list | None = None) -> pd.DataFrame:
    return connection.execute(sql, params or []).fetchdf()


def _last_gate_card(connection, config: DatasetConfig) -> list[str]:
    """The newest gate decision: a failed one is red and names the checks that failed,
    since its retrain run looks like a success in Airflow."""
    last = _query(
        connection,
        f"SELECT decision, recorded_at, checks, dag_run_id FROM {APPROVAL_LOG} "
        "WHERE model_name = ? ORDER BY recorded_at DESC LIMIT 1",
        [config.model.name],
    )
    if last.empty:
        return []
    row = last.iloc[0]
    failed = [c["name"] for c in json.loads(row["checks"]) if not c["passed"]]
    verdict = "passed" if row["decision"] == "passed" else "FAILED: " + ", ".join(failed)
    return [
        f"<div class='card'>last gate ({html.escape(str(row['recorded_at'])[:16])})<br>"
        f"<b id='gate' class='{'ok' if row['decision'] == 'passed' else 'bad'}'>"
        f"{html.escape(verdict)}</b><br><small>{html.escape(str(row['dag_run_id']))}</small>"
        "</div>"
    ]


def render(
    settings: Settings,
    config: DatasetConfig,
    *,
    entity: str | None = None,
    day: dt.date | None = None,
) -> str:
    """The Nightjar page as HTML, from the same tables and registry the CLI reads."""
    scores, drift, decisions, performance = (
        config.table_name(k)
        for k in ("scores", "drift_metrics", "retrain_decisions", "performance_metrics")
    )
    tables = set(table_names(settings)) & {scores, drift, decisions, performance, APPROVAL_LOG}
    connection = connect(settings, only=tables)
    since = _window_start(settings, scores) if scores in tables else None
    champion = registry.version_for_alias(settings, config.model.name, registry.CHAMPION)
    challenger = registry.version_for_alias(settings, config.model.name, registry.CHALLENGER)
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>Nightjar</title>"
        f"<style>{_CSS}</style></head><body><h1>Nightjar: {html.escape(config.name)}</h1>",
        "<div class='cards'>",
        f"<div class='card'>champion<br><b id='champion'>{config.model.name} "
        f"v{html.escape(str(champion))}</b></div>",
        f"<div class='card'>challenger<br><b>{html.escape(str(challenger))}</b></div>",
        *(_last_gate_card(connection, config) if APPROVAL_LOG in tables else []),
        "</div>",
    ]
    if scores in tables:
        nights = _query(
            connection,
            f"SELECT score_date, count(*) AS rows, "
            f"avg(probability) AS mean_probability, avg(decision::INT) AS flagged, "
            f"any_value(model_version) AS model_version FROM {scores} "
            f"WHERE score_date >= ? GROUP BY 1 ORDER BY 1 DESC LIMIT {NIGHTS}",
            [since],
        ).iloc[::-1]
        parts += [
            "<h2>Last nights: rows scored</h2>",
            _bars(nights["rows"], nights["score_date"]),
            "<h2>Mean predicted probability</h2>",
            _bars(nights["mean_probability"], nights["score_date"], colour="#8250df"),
            f"<div id='nights'>{_table(nights.iloc[::-1])}</div>",
        ]
    if drift in tables:
        status = _query(
            connection,
            f"SELECT score_date, feature, CASE WHEN coalesce(status, 'measured') = 'measured' "
            f"THEN round(value, 3)::VARCHAR ELSE replace(status, '_', ' ') END AS psi, "
            f"drifted FROM {drift} WHERE score_date IN (SELECT DISTINCT score_date "
            f"FROM {drift} ORDER BY 1 DESC LIMIT 7)",
        )
        pivot = status.pivot(index="feature", columns="score_date", values="psi")
        flags = status.pivot(index="feature", columns="score_date", values="drifted")
        cells = pivot.copy().astype(object)
        for column in pivot.columns:
            cells[column] = [
                f"<span class='{'bad' if f else 'ok'}'>{v}</span>"
                for v, f in zip(pivot[column], flags[column], strict=True)
            ]
        cells.columns = [str(c)[:10] for c in cells.columns]  # the date, not a midnight time
        parts += [
            "<h2 id='drift'>Drift status per feature (PSI; red = drifted)</h2>",
            cells.reset_index().to_html(index=False, escape=False, border=0),
        ]
    if performance in tables:
        realised = _query(
            connection,
            f"SELECT score_date, measured_on, metric, "
            f"round(value, 4) AS value FROM {performance} WHERE segment = "
            f"'overall' AND metric IN ('roc_auc', 'brier', 'rows') "
            f"ORDER BY score_date DESC LIMIT {3 * NIGHTS}",
        )
        wide = realised.pivot_table(
            index=["score_date", "measured_on"], columns="metric", values="value"
        ).reset_index()
        parts += ["<h2 id='performance'>Realised performance (labels landed)</h2>", _table(wide)]
    if challenger is not None:
        parts += _shadow_section(settings, config, str(challenger))
    if decisions in tables:
        parts += [
            "<h2>Retrain decisions</h2>",
            _table(_query(connection, f"SELECT * FROM {decisions} ORDER BY decision_date DESC")),
        ]
    parts += [
        "<h2>Alias history</h2>",
        _table(registry.history(settings, config.model.name).iloc[::-1]),
    ]
    if entity and scores in tables:
        parts += [
            f"<h2>Lineage of {html.escape(entity)}</h2>",
            _table(
                _query(
                    connection,
                    f"SELECT score_date, probability, model_name, model_version, "
                    f"model_run_id, lakefs_commit, feature_spec, dag_run_id FROM {scores} "
                    f"WHERE {config.entity_key} = ? AND (? IS NULL OR score_date = ?)",
                    [entity, day, day],
                )
            ),
        ]
    parts.append("</body></html>")
    return "\n".join(parts)
