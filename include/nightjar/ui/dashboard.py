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
import logging

import pandas as pd

from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.settings import Settings
from nightjar.core.templates import render as render_template
from nightjar.evaluation.gate import APPROVAL_LOG
from nightjar.io import tracking
from nightjar.io.analytics import connect, table_names
from nightjar.promotion import registry
from nightjar.ui.status_grid import status_grid

log = logging.getLogger(__name__)
NIGHTS = 30


def _frame(frame: pd.DataFrame, limit: int = 50) -> dict:
    """A table for the template: its columns and its first ``limit`` rows; a date column
    (all midnights) shows dates, not times."""
    head = frame.head(limit).copy()
    for column in head.columns:
        values = head[column]
        if (
            pd.api.types.is_datetime64_any_dtype(values)
            and values.dropna().dt.normalize().eq(values.dropna()).all()
        ):
            head[column] = values.dt.date
    shown = head.astype(object).where(head.notna(), "")
    return {"columns": [str(c) for c in frame.columns], "rows": shown.values.tolist()}


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


def _gates(connection, config: DatasetConfig, limit: int = 10) -> list[dict]:
    """The last gate decisions, newest first: a failed one names the checks that failed,
    since its retrain run looks like a success in Airflow."""
    decisions = _query(
        connection,
        f"SELECT decision, recorded_at, checks, champion_version, dag_run_id, mlflow_run_id "
        f"FROM {APPROVAL_LOG} WHERE model_name = ? ORDER BY recorded_at DESC LIMIT {limit}",
        [config.model.name],
    )
    gates = []
    for row in decisions.to_dict("records"):
        passed = row["decision"] == "passed"
        failed = [
            f"{c['name']} ({c['value']} vs {c['threshold']})"
            for c in json.loads(row["checks"])
            if not c["passed"]
        ]
        gates.append(
            {
                "passed": passed,
                "verdict": "passed" if passed else "FAILED: " + ", ".join(failed),
                "recorded_at": str(row["recorded_at"])[:16],
                "dag_run_id": str(row["dag_run_id"]),
                "against": f"v{row['champion_version']}" if row["champion_version"] else "-",
                "run_id": str(row["mlflow_run_id"]),
            }
        )
    return gates


_HOLDOUT_MEANS: dict[tuple[str, str], float | None] = {}


def _holdout_mean(settings: Settings, run_id: str | None) -> float | None:
    """The champion's mean predicted probability on its holdout (``evaluation/holdout.parquet``
    of its training run): what a night's mean is compared with. Read once per run."""
    if run_id is None:
        return None
    key = (settings.mlflow_uri, run_id)
    if key not in _HOLDOUT_MEANS:
        import tempfile
        from pathlib import Path

        from nightjar.core.vocabulary import PREDICTION
        from nightjar.io import tracking

        try:
            with tempfile.TemporaryDirectory() as tmp:
                path = tracking.download(settings, run_id, "evaluation/holdout.parquet", Path(tmp))
                predictions = pd.read_parquet(path, columns=[PREDICTION])[PREDICTION]
                _HOLDOUT_MEANS[key] = float(predictions.mean())
        except Exception:  # an older run without the holdout: no reference line
            _HOLDOUT_MEANS[key] = None
    return _HOLDOUT_MEANS[key]


def _nights(connection, scores: str, since: dt.date, reference: float | None) -> dict:
    from nightjar.ui import charts

    nights = _query(
        connection,
        f"SELECT score_date, count(*) AS rows, "
        f"avg(probability) AS mean_probability, avg(decision::INT) AS flagged, "
        f"any_value(model_version) AS model_version FROM {scores} "
        f"WHERE score_date >= ? GROUP BY 1 ORDER BY 1 DESC LIMIT {NIGHTS}",
        [since],
    ).iloc[::-1]
    return {
        "rows_chart": charts.rows_scored(nights),
        "probability_chart": charts.mean_probability(nights, reference),
        "table": _frame(nights.iloc[::-1]),
    }


def _drift(connection, drift: str, since: dt.date) -> dict:
    """PSI per feature over the last 7 monitored dates (a column that could not be
    compared shows its status instead), and a chart of the last nights' PSI."""
    from nightjar.ui import charts

    nights = _query(
        connection,
        f"SELECT score_date, feature, value, threshold, drifted, "
        f"coalesce(status, 'measured') AS status FROM {drift} WHERE score_date >= ?",
        [since],
    )
    last_seven = sorted(nights["score_date"].unique())[-7:]
    status = nights[nights["score_date"].isin(last_seven)].assign(
        psi=lambda f: (
            f["value"]
            .round(3)
            .astype(str)
            .where(f["status"] == "measured", f["status"].str.replace("_", " "))
        )
    )
    history = nights[nights["status"] == "measured"]
    psi = status.pivot(index="feature", columns="score_date", values="psi")
    flags = status.pivot(index="feature", columns="score_date", values="drifted")
    return {
        "chart": charts.psi_per_feature(history) if not history.empty else "",
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


def _performance(connection, performance: str, config: DatasetConfig) -> dict:
    """The realised metrics of the nights whose labels landed, and the gate's primary metric
    against its floor."""
    from nightjar.core.gate_policy import load_policy
    from nightjar.ui import charts

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
    policy = load_policy(config.gate_policy)
    primary = _query(
        connection,
        f"SELECT score_date, value FROM {performance} WHERE segment = 'overall' AND metric = ? "
        f"ORDER BY score_date DESC LIMIT {NIGHTS}",
        [policy.primary_metric],
    ).iloc[::-1]
    chart = (
        charts.realised_metric(primary, policy.primary_metric, policy.min_primary_metric)
        if not primary.empty
        else ""
    )
    return {"table": _frame(wide), "chart": chart}


def _raw_dates(settings: Settings, config: DatasetConfig) -> tuple[dict[dt.date, str], str]:
    """Each raw partition date on ``main`` (any source but the labels) with a link to its
    folder; and, if lakeFS could not be read, why (the grid then shows no raw column)."""
    from nightjar.airflow.links import lakefs_object_url
    from nightjar.io import raw_tables
    from nightjar.io.lakefs_client import make_client
    from nightjar.io.snapshots import MAIN

    found: dict[dt.date, str] = {}
    try:
        client = make_client(settings)
        for name, source in config.sources.items():
            if name == config.label.source:
                continue
            listed = raw_tables.list_partitions(
                client, settings.lakefs_repository, MAIN, source.path
            )
            for day in listed:
                folder = f"{source.path}/date={day.isoformat()}/"
                url = lakefs_object_url(settings, settings.lakefs_repository, MAIN, folder)
                found.setdefault(day, url)
    except Exception as exc:  # the page still shows what the tables hold
        return {}, f"lakeFS not readable ({type(exc).__name__}: {str(exc)[:120]})"
    return found, ""


def render(
    settings: Settings,
    config: DatasetConfig,
    *,
    entity: str | None = None,
    day: dt.date | None = None,
    page: int = 0,
) -> str:
    """The Nightjar page as HTML, from the same tables and registry the CLI reads;
    ``page`` pages the status grid back, 60 dates at a time."""
    scores, drift, decisions, performance, quarantine = (
        config.table_name(k)
        for k in (
            "scores",
            "drift_metrics",
            "retrain_decisions",
            "performance_metrics",
            "quarantine",
        )
    )
    existing = set(table_names(settings))
    # Views only for what is queried: opening a table for DuckDB reads its whole log.
    tables = existing & {scores, drift, decisions, performance, APPROVAL_LOG, quarantine}
    connection = connect(settings, only=tables)
    champion = registry.version_for_alias(settings, config.model.name, registry.CHAMPION)
    challenger = registry.version_for_alias(settings, config.model.name, registry.CHALLENGER)
    lineage = None
    if entity and scores in tables:
        # Only the asked date's partition when there is one (an OR on a bound NULL would
        # make DuckDB read every partition).
        on_day, params = (" AND score_date = ?", [entity, day]) if day else ("", [entity])
        lineage = _frame(
            _query(
                connection,
                f"SELECT score_date, probability, model_version, lakefs_commit, dag_run_id "
                f"FROM {scores} WHERE {config.entity_key} = ?{on_day}",
                params,
            )
        )
    since = _window_start(settings, scores) if scores in tables else None
    champion_run = (
        tracking.client(settings).get_model_version(config.model.name, champion).run_id
        if champion is not None
        else None
    )
    raw_dates, raw_problem = _raw_dates(settings, config)
    grid = status_grid(settings, config, connection, existing, raw_dates, page=page)
    chain = None
    if entity and day and scores in tables:
        from nightjar.core.errors import NightjarError
        from nightjar.lineage.explain import explain, render_text

        try:
            chain = render_text(explain(settings, config, entity, day))
        except NightjarError as exc:  # the row, or its model version, is not there
            chain = str(exc)
        except Exception as exc:  # the page still shows everything else
            log.warning("explain %s on %s failed", entity, day, exc_info=True)
            chain = f"the chain could not be followed: {type(exc).__name__}: {exc}"
    return render_template(
        "nightjar.ui",
        "page.html.j2",
        dataset=config.name,
        model_name=config.model.name,
        champion=champion,
        challenger=challenger,
        gates=_gates(connection, config) if APPROVAL_LOG in tables else [],
        nights=(
            _nights(connection, scores, since, _holdout_mean(settings, champion_run))
            if scores in tables
            else None
        ),
        drift=_drift(connection, drift, since) if drift in tables and since else None,
        performance=(
            _performance(connection, performance, config) if performance in tables else None
        ),
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
        grid=grid,
        raw_problem=raw_problem,
        stages=("raw", "features", "scores", "drift", "labels", "retrain"),
    )
