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
from dataclasses import dataclass
from typing import Any

import pandas as pd

from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.settings import Settings
from nightjar.core.templates import render as render_template
from nightjar.core.vocabulary import dag_id
from nightjar.evaluation.gate import APPROVAL_LOG
from nightjar.io.analytics import connect, table_names
from nightjar.promotion import registry
from nightjar.scoring import nightly_summary
from nightjar.ui.status_grid import STAGES, GridWindow, grid_window, status_grid

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


def _shown_partitions(
    config: DatasetConfig,
    window: GridWindow | None,
    since: dt.date | None,
    entity: str | None,
    day: dt.date | None,
) -> dict[str, tuple[str, dt.date]]:
    """The date-partitioned tables' views limited to what the page shows: the grid's dates,
    the charts' nights, the asked entity's date (all its dates when none is given)."""
    shown = [d for d in (since, window.first if window else None, day) if d is not None]
    if not shown:
        return {}
    first = min(shown)
    limited = {
        config.table_name(kind): (column, first)
        for kind, column in (
            ("scores", "score_date"),
            ("drift_metrics", "score_date"),
            (nightly_summary.KIND, "score_date"),
        )
    }
    if entity and day is None:
        del limited[config.table_name("scores")]
    return limited


def _query(connection, sql: str, params: list | None = None) -> pd.DataFrame:
    return connection.execute(sql, params or []).fetchdf()


def _number(value: object) -> str:
    """A check's value as people read it: four significant digits for a number."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _gates(
    connection, config: DatasetConfig, runs: dict[str, str | None], limit: int = 10
) -> list[dict]:
    """The last gate decisions, newest first. A failed one names the checks that failed
    (its retrain run looks like a success in Airflow); a passed one whose version holds the
    challenger alias awaits approval. ``runs``: the MLflow run of each alias's version."""
    decisions = _query(
        connection,
        f"SELECT decision, recorded_at, checks, champion_version, dag_run_id, mlflow_run_id "
        f"FROM {APPROVAL_LOG} WHERE model_name = ? ORDER BY recorded_at DESC LIMIT {limit}",
        [config.model.name],
    )
    gates = []
    for row in decisions.to_dict("records"):
        checks = [
            {**c, "value": _number(c["value"]), "threshold": _number(c["threshold"])}
            for c in json.loads(row["checks"])
        ]
        failed = [
            f"{c['name']} ({c['value']} vs {c['threshold']})" for c in checks if not c["passed"]
        ]
        run_id = str(row["mlflow_run_id"])
        if failed:
            outcome, verdict = "failed", "FAILED: " + ", ".join(failed)
        elif run_id == runs.get("challenger"):
            outcome, verdict = "awaiting", "passed; awaiting approval as challenger"
        elif run_id == runs.get("champion"):
            outcome, verdict = "passed", "passed; champion"
        else:
            outcome, verdict = "passed", "passed"
        gates.append(
            {
                "passed": not failed,
                "outcome": outcome,
                "verdict": verdict,
                "checks": checks,
                "recorded_at": str(row["recorded_at"])[:16],
                "dag_run_id": str(row["dag_run_id"]),
                "against": f"v{row['champion_version']}" if row["champion_version"] else "-",
                "run_id": run_id,
            }
        )
    return gates


def _awaiting_approval(
    settings: Settings, config: DatasetConfig, challenger: str, gates: list[dict]
) -> dict:
    """The challenger waiting for a person: its gate checks, its shadow nights beside the
    champion against what the policy requires, and the command that promotes it."""
    from nightjar.core.gate_policy import load_policy
    from nightjar.scoring import shadow

    policy = load_policy(config.gate_policy)
    nights = shadow.history(settings, config, challenger)
    gate = next((g for g in gates if g["outcome"] == "awaiting"), None)
    return {
        "version": challenger,
        "gate": gate,
        "nights": len(nights),
        "required_nights": policy.min_shadow_nights,
        "human_approval": policy.require_human_approval,
        "table": _frame(nights.tail(NIGHTS).iloc[::-1][shadow.SUMMARY_COLUMNS].round(4)),
        "command": f"nightjar model promote --version {challenger}",
    }


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


def _nights(
    connection, config: DatasetConfig, tables: set[str], scored: list[dt.date], reference
) -> dict:
    """The last nights' rows scored, mean probability and share flagged: from the nightly
    summary the score task writes, and aggregated from the scores only for a night that has
    none (scored before the summary existed, or its task died between the two writes)."""
    from nightjar.ui import charts

    columns = ", ".join(nightly_summary.COLUMNS)
    summary_table = config.table_name(nightly_summary.KIND)
    nights = (
        _query(
            connection,
            f"SELECT {columns} FROM {summary_table} WHERE score_date >= ?",
            [scored[0]],
        )
        if summary_table in tables
        else pd.DataFrame(columns=nightly_summary.COLUMNS)
    )
    summarised = set(pd.to_datetime(nights["score_date"]).dt.date)
    missing = [day for day in scored if day not in summarised]
    if missing:
        aggregated = _query(
            connection,
            f"SELECT score_date, count(*) AS rows, avg(probability) AS mean_probability, "
            f"avg(decision::INT) AS flagged, string_agg(DISTINCT model_version, ',' "
            f"ORDER BY length(model_version), model_version) AS model_version "
            f"FROM {config.table_name('scores')} "
            f"WHERE score_date IN ({', '.join('?' * len(missing))}) GROUP BY 1",
            missing,
        )
        nights = pd.concat([df for df in (nights, aggregated) if not df.empty], ignore_index=True)
    nights["score_date"] = pd.to_datetime(nights["score_date"])
    nights = nights.sort_values("score_date").tail(NIGHTS).reset_index(drop=True)
    return {
        "rows_chart": charts.rows_scored(nights),
        "probability_chart": charts.mean_probability(nights, reference),
        "table": _frame(nights.iloc[::-1]),
        "versions": nights[["score_date", "model_version"]],  # for the other charts' markers
    }


def _drift(
    sources: PageSources, since: dt.date | None, versions: pd.DataFrame | None
) -> dict | None:
    """PSI per feature over the last 7 monitored dates (a column that could not be
    compared shows its status instead), and a chart of the last nights' PSI."""
    from nightjar.ui import charts

    if since is None or not sources.has("drift_metrics"):
        return None
    # A night is measured under each version that served it; the newest is shown.
    nights = _query(
        sources.connection,
        f"SELECT score_date, feature, value, threshold, drifted, model_version, "
        f"coalesce(status, 'measured') AS status FROM {sources.name('drift_metrics')} "
        f"WHERE score_date >= ? "
        f"QUALIFY try_cast(model_version AS INTEGER) = "
        f"max(try_cast(model_version AS INTEGER)) OVER (PARTITION BY score_date)",
        [since],
    )
    last_seven = sorted(nights["score_date"].unique())[-7:]
    measured_by = nights.groupby("score_date")["model_version"].first()
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
        "chart": charts.psi_per_feature(history, versions) if not history.empty else "",
        # the date, not a midnight time, and the version that measured it
        "dates": [f"{str(day)[:10]} v{measured_by[day]}" for day in psi.columns],
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


def _decisions(sources: PageSources) -> list[dict] | None:
    """The decision in force for each of the last nights (the newest of its night), with
    each signal against its trigger."""
    if not sources.has("retrain_decisions"):
        return None
    frame = _query(
        sources.connection,
        f"SELECT decision_date, arg_max(fired, decided_at) AS fired, "
        f"arg_max(coalesce(pending, false), decided_at) AS pending, "
        f"arg_max(reason, decided_at) AS reason, "
        f"arg_max(model_version, decided_at) AS served_by, "
        f"arg_max(signals, decided_at) AS signals "
        f"FROM {sources.name('retrain_decisions')} GROUP BY 1 ORDER BY 1 DESC LIMIT 60",
    )
    return [
        {
            "night": str(row["decision_date"])[:10],
            "decision": "FIRED" if row["fired"] else "pending" if row["pending"] else "suppressed",
            "served by": f"v{row['served_by']}",
            "signals": _signal_words(row["signals"]),
            "reason": row["reason"],
        }
        for row in frame.to_dict("records")
    ]


def _signal_words(signals: str | None) -> str:
    """Each measured signal of a decision, with its trigger (or "reported" when it is not
    one), breaching ones marked."""
    words = []
    for signal in json.loads(signals or "[]"):
        if signal["value"] is None:
            continue
        limit = "reported" if signal["threshold"] is None else f"trigger {signal['threshold']:g}"
        mark = " BREACH" if signal["breached"] else ""
        words.append(f"{signal['name']} {signal['value']:.3f} ({limit}){mark}")
    return "; ".join(words)


def _requests(sources: PageSources) -> dict | None:
    """The request log, newest first: each request and what became of it."""
    if not sources.has("retrain_requests"):
        return None
    return _frame(
        _query(
            sources.connection,
            f"SELECT request_date AS night, event, event_at, dag_run_id, model_version, "
            f"reason FROM {sources.name('retrain_requests')} ORDER BY event_at DESC LIMIT 100",
        )
    )


def _performance(sources: PageSources, versions: pd.DataFrame | None) -> dict | None:
    """The realised metrics of the nights whose labels landed, and the gate's primary metric
    against its floor."""
    from nightjar.core.gate_policy import load_policy
    from nightjar.ui import charts

    if not sources.has("performance_metrics"):
        return None
    connection, performance = sources.connection, sources.name("performance_metrics")
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
    policy = load_policy(sources.config.gate_policy)
    primary = _query(
        connection,
        f"SELECT score_date, value FROM {performance} WHERE segment = 'overall' AND metric = ? "
        f"ORDER BY score_date DESC LIMIT {NIGHTS}",
        [policy.primary_metric],
    ).iloc[::-1]
    chart = (
        charts.realised_metric(primary, policy.primary_metric, policy.min_primary_metric, versions)
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


@dataclass(frozen=True)
class PageSources:
    """What every panel of one render reads: one DuckDB connection over the tables that
    exist (limited to the dates shown), and the registry's view of the model, read once."""

    settings: Settings
    config: DatasetConfig
    connection: Any
    tables: set[str]  # the names of the dataset's tables that exist
    model: registry.ModelView

    def has(self, kind: str) -> bool:
        return self.config.table_name(kind) in self.tables

    def name(self, kind: str) -> str:
        return self.config.table_name(kind)


# The dataset's tables the page queries, by kind (and the approval log all datasets share).
PAGE_TABLES = (
    "scores",
    "drift_metrics",
    "retrain_decisions",
    "retrain_requests",
    "performance_metrics",
    "quarantine",
    nightly_summary.KIND,
)


def render(
    settings: Settings,
    config: DatasetConfig,
    *,
    entity: str | None = None,
    day: dt.date | None = None,
    page: int = 0,
    failed_runs: dict[dt.date, str] | None = None,
) -> str:
    """The Nightjar page as HTML, from the same tables and registry the CLI reads;
    ``page`` pages the status grid back, 60 dates at a time; ``failed_runs`` (from
    Airflow, by the plugin) maps each date whose newest scoring run failed to its run."""
    existing = set(table_names(settings))
    raw_dates, raw_problem = _raw_dates(settings, config)
    window = grid_window(settings, config, existing, raw_dates, failed_runs=failed_runs, page=page)
    scored = sorted(window.scored)[-NIGHTS:] if window else []
    since = scored[0] if scored else None
    # Views only for what is queried: opening a table for DuckDB reads its whole log.
    tables = existing & ({config.table_name(kind) for kind in PAGE_TABLES} | {APPROVAL_LOG})
    connection = connect(
        settings, only=tables, since=_shown_partitions(config, window, since, entity, day)
    )
    sources = PageSources(
        settings, config, connection, tables, registry.model_view(settings, config.model.name)
    )
    champion = sources.model.version(registry.CHAMPION)
    challenger = sources.model.version(registry.CHALLENGER)
    gates = _gates(connection, config, sources.model.runs) if APPROVAL_LOG in tables else []
    nights = None
    if scored:
        reference = _holdout_mean(settings, sources.model.runs.get(registry.CHAMPION))
        nights = _nights(connection, config, tables, scored, reference)
    versions = nights["versions"] if nights else None
    return render_template(
        "nightjar.ui",
        "page.html.j2",
        dataset=config.name,
        retrain_dag=dag_id("retrain", config.name),
        model_name=config.model.name,
        champion=champion,
        challenger=challenger,
        gates=gates,
        nights=nights,
        drift=_drift(sources, since, versions),
        performance=_performance(sources, versions),
        approval=(
            _awaiting_approval(settings, config, challenger, gates)
            if challenger is not None
            else None
        ),
        decisions=_decisions(sources),
        requests=_requests(sources),
        aliases=_frame(sources.model.moves.iloc[::-1]),
        entity=entity,
        lineage=_lineage(sources, entity, day),
        chain=_chain(sources, entity, day),
        day=day,
        grid=window
        and status_grid(settings, config, connection, existing, raw_dates, window, failed_runs),
        raw_problem=raw_problem,
        stages=STAGES,
    )


def _lineage(sources: PageSources, entity: str | None, day: dt.date | None) -> dict | None:
    """The asked entity's scores: on ``day``, or on every date when none is given."""
    if not entity or not sources.has("scores"):
        return None
    # Only the asked date's partition when there is one (an OR on a bound NULL would make
    # DuckDB read every partition).
    on_day, params = (" AND score_date = ?", [entity, day]) if day else ("", [entity])
    return _frame(
        _query(
            sources.connection,
            f"SELECT score_date, probability, model_version, lakefs_commit, dag_run_id "
            f"FROM {sources.name('scores')} WHERE {sources.config.entity_key} = ?{on_day}",
            params,
        )
    )


def _chain(sources: PageSources, entity: str | None, day: dt.date | None) -> str | None:
    """The lineage chain behind the entity's score on ``day``, as ``nightjar explain``
    prints it; what went wrong when it cannot be followed (the page shows the rest)."""
    if not (entity and day and sources.has("scores")):
        return None
    from nightjar.core.errors import NightjarError
    from nightjar.lineage.explain import explain, render_text

    try:
        return render_text(
            explain(sources.settings, sources.config, entity, day, registry_view=sources.model)
        )
    except NightjarError as exc:  # the row, or its model version, is not there
        return str(exc)
    except Exception as exc:  # the page still shows everything else
        log.warning("explain %s on %s failed", entity, day, exc_info=True)
        return f"the chain could not be followed: {type(exc).__name__}: {exc}"
