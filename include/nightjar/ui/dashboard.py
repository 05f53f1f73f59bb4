"""The Nightjar page: champion, last nights, drift, retrain decisions, per-entity lineage.

Server-rendered HTML (``templates/page.html.j2``) with inline SVG charts: no JavaScript,
no CDN, works offline. This module gathers what the page shows from the same Delta tables
and registry the CLI reads, through ``analytics`` and ``registry``; there is no second
source of truth. User input (a date or an entity id) is validated and only ever reaches
DuckDB as a bound parameter; the template escapes every value.
"""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd

from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.settings import Settings
from nightjar.core.templates import render as render_template
from nightjar.evaluation.gate import APPROVAL_LOG
from nightjar.io.analytics import connect, table_names
from nightjar.promotion import registry

NIGHTS = 30
CHART_HEIGHT = 120


def _frame(frame: pd.DataFrame, limit: int = 50) -> dict:
    """A table for the template: its columns and its first ``limit`` rows."""
    shown = frame.head(limit).astype(object).where(frame.head(limit).notna(), "")
    return {"columns": [str(c) for c in frame.columns], "rows": shown.values.tolist()}


def _chart(values: pd.Series, labels: pd.Series) -> dict:
    """Bar geometry for a small SVG chart, tallest bar at full height."""
    if values.empty:
        return {"bars": []}
    width = max(16, 700 // len(values))
    top = float(values.max()) or 1.0
    bars = []
    for i, (value, label) in enumerate(zip(values, labels, strict=True)):
        height = int(CHART_HEIGHT * float(value) / top)
        bars.append(
            {
                "x": i * width,
                "y": CHART_HEIGHT - height,
                "w": width - 2,
                "h": height,
                "label": str(label)[:10],
                "value": f"{value:,.4g}",
            }
        )
    return {"bars": bars, "width": width * len(values), "height": CHART_HEIGHT}


def _window_start(settings: Settings, table: str) -> dt.date:
    """First of the last ``NIGHTS`` score dates, from the Delta log alone (no data read), so
    the page's queries touch only those partitions however long the history is."""
    from nightjar.io import delta_tables

    actions = delta_tables.open_table(settings.table_uri(table)).get_add_actions(flatten=True)
    dates = sorted({str(v) for v in actions.column("partition.score_date").to_pylist()})
    return dt.date.fromisoformat(dates[-NIGHTS] if len(dates) >= NIGHTS else dates[0])


def _shadow(settings: Settings, config: DatasetConfig, challenger: str) -> dict:
    """The challenger's nightly shadow comparison, the evidence for promoting it."""
    from nightjar.scoring import shadow

    nights = shadow.history(settings, config, challenger).tail(NIGHTS).iloc[::-1]
    return {"version": challenger, "table": _frame(nights[shadow.SUMMARY_COLUMNS].round(4))}


def _query(connection, sql: str, params: list | None = None) -> pd.DataFrame:
    return connection.execute(sql, params or []).fetchdf()


def _last_gate(connection, config: DatasetConfig) -> dict | None:
    """The newest gate decision: a failed one is red and names the checks that failed,
    since its retrain run looks like a success in Airflow."""
    last = _query(
        connection,
        f"SELECT decision, recorded_at, checks, dag_run_id FROM {APPROVAL_LOG} "
        "WHERE model_name = ? ORDER BY recorded_at DESC LIMIT 1",
        [config.model.name],
    )
    if last.empty:
        return None
    row = last.iloc[0]
    passed = row["decision"] == "passed"
    failed = [c["name"] for c in json.loads(row["checks"]) if not c["passed"]]
    return {
        "passed": passed,
        "verdict": "passed" if passed else "FAILED: " + ", ".join(failed),
        "recorded_at": str(row["recorded_at"])[:16],
        "dag_run_id": str(row["dag_run_id"]),
    }


def _nights(connection, scores: str, since: dt.date) -> dict:
    nights = _query(
        connection,
        f"SELECT score_date, count(*) AS rows, "
        f"avg(probability) AS mean_probability, avg(decision::INT) AS flagged, "
        f"any_value(model_version) AS model_version FROM {scores} "
        f"WHERE score_date >= ? GROUP BY 1 ORDER BY 1 DESC LIMIT {NIGHTS}",
        [since],
    ).iloc[::-1]
    return {
        "rows_chart": _chart(nights["rows"], nights["score_date"]),
        "probability_chart": _chart(nights["mean_probability"], nights["score_date"]),
        "table": _frame(nights.iloc[::-1]),
    }


def _drift(connection, drift: str) -> dict:
    """PSI per feature over the last 7 monitored dates; a column that could not be
    compared shows its status instead."""
    status = _query(
        connection,
        f"SELECT score_date, feature, CASE WHEN coalesce(status, 'measured') = 'measured' "
        f"THEN round(value, 3)::VARCHAR ELSE replace(status, '_', ' ') END AS psi, "
        f"drifted FROM {drift} WHERE score_date IN (SELECT DISTINCT score_date "
        f"FROM {drift} ORDER BY 1 DESC LIMIT 7)",
    )
    psi = status.pivot(index="feature", columns="score_date", values="psi")
    flags = status.pivot(index="feature", columns="score_date", values="drifted")
    return {
        "dates": [str(day)[:10] for day in psi.columns],  # the date, not a midnight time
        "rows": [
            {
                "feature": feature,
                "cells": [
                    {"psi": "" if pd.isna(value) else value, "drifted": bool(flag is True)}
                    for value, flag in zip(psi.loc[feature], flags.loc[feature], strict=True)
                ],
            }
            for feature in psi.index
        ],
    }


def _performance(connection, performance: str) -> dict:
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
    return _frame(wide)


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
    champion = registry.version_for_alias(settings, config.model.name, registry.CHAMPION)
    challenger = registry.version_for_alias(settings, config.model.name, registry.CHALLENGER)
    lineage = None
    if entity and scores in tables:
        lineage = _frame(
            _query(
                connection,
                f"SELECT score_date, probability, model_name, model_version, "
                f"model_run_id, lakefs_commit, feature_spec, dag_run_id FROM {scores} "
                f"WHERE {config.entity_key} = ? AND (? IS NULL OR score_date = ?)",
                [entity, day, day],
            )
        )
    chain = None
    if entity and day and scores in tables:
        from nightjar.lineage.explain import ExplainError, explain, render_text

        try:
            chain = render_text(explain(settings, config, entity, day))
        except ExplainError as exc:
            chain = str(exc)
    return render_template(
        "nightjar.ui",
        "page.html.j2",
        dataset=config.name,
        model_name=config.model.name,
        champion=champion,
        challenger=challenger,
        gate=_last_gate(connection, config) if APPROVAL_LOG in tables else None,
        nights=(
            _nights(connection, scores, _window_start(settings, scores))
            if scores in tables
            else None
        ),
        drift=_drift(connection, drift) if drift in tables else None,
        performance=_performance(connection, performance) if performance in tables else None,
        shadow=_shadow(settings, config, str(challenger)) if challenger is not None else None,
        decisions=(
            _frame(_query(connection, f"SELECT * FROM {decisions} ORDER BY decision_date DESC"))
            if decisions in tables
            else None
        ),
        aliases=_frame(registry.history(settings, config.model.name).iloc[::-1]),
        entity=entity,
        lineage=lineage,
        chain=chain,
        day=day,
    )
