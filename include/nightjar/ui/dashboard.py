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
from nightjar.core.vocabulary import dag_id
from nightjar.evaluation.gate import APPROVAL_LOG
from nightjar.io import tracking
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


def _drift(connection, drift: str, since: dt.date, versions: pd.DataFrame | None) -> dict:
    """PSI per feature over the last 7 monitored dates (a column that could not be
    compared shows its status instead), and a chart of the last nights' PSI."""
    from nightjar.ui import charts

    # A night is measured under each version that served it; the newest is shown.
    nights = _query(
        connection,
        f"SELECT score_date, feature, value, threshold, drifted, model_version, "
        f"coalesce(status, 'measured') AS status FROM {drift} WHERE score_date >= ? "
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


def _decisions(connection, decisions: str) -> list[dict]:
    """The decision in force for each of the last nights (the newest of its night), with
    each signal against its trigger."""
    frame = _query(
        connection,
        f"SELECT decision_date, arg_max(fired, decided_at) AS fired, "
        f"arg_max(coalesce(pending, false), decided_at) AS pending, "
        f"arg_max(reason, decided_at) AS reason, "
        f"arg_max(model_version, decided_at) AS served_by, "
        f"arg_max(signals, decided_at) AS signals "
        f"FROM {decisions} GROUP BY 1 ORDER BY 1 DESC LIMIT 60",
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


def _requests(connection, requests: str) -> pd.DataFrame:
    """The request log, newest first: each request and what became of it."""
    return _query(
        connection,
        f"SELECT request_date AS night, event, event_at, dag_run_id, model_version, reason "
        f"FROM {requests} ORDER BY event_at DESC LIMIT 100",
    )


def _performance(
    connection, performance: str, config: DatasetConfig, versions: pd.DataFrame | None
) -> dict:
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
    scores, drift, decisions, requests, performance, quarantine = (
        config.table_name(k)
        for k in (
            "scores",
            "drift_metrics",
            "retrain_decisions",
            "retrain_requests",
            "performance_metrics",
            "quarantine",
        )
    )
    existing = set(table_names(settings))
    # Views only for what is queried: opening a table for DuckDB reads its whole log.
    summary = config.table_name(nightly_summary.KIND)
    tables = existing & {
        scores,
        drift,
        decisions,
        requests,
        performance,
        APPROVAL_LOG,
        quarantine,
        summary,
    }
    raw_dates, raw_problem = _raw_dates(settings, config)
    window = grid_window(settings, config, existing, raw_dates, failed_runs=failed_runs, page=page)
    scored = sorted(window.scored)[-NIGHTS:] if window else []
    since = scored[0] if scored else None
    connection = connect(
        settings, only=tables, since=_shown_partitions(config, window, since, entity, day)
    )
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
    mlflow = tracking.client(settings)
    runs = {
        alias: mlflow.get_model_version(config.model.name, version).run_id if version else None
        for alias, version in (("champion", champion), ("challenger", challenger))
    }
    gates = _gates(connection, config, runs) if APPROVAL_LOG in tables else []
    grid = window and status_grid(
        settings, config, connection, existing, raw_dates, window, failed_runs
    )
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
    nights = (
        _nights(connection, config, tables, scored, _holdout_mean(settings, runs["champion"]))
        if scored
        else None
    )
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
        drift=_drift(connection, drift, since, versions) if drift in tables and since else None,
        performance=(
            _performance(connection, performance, config, versions)
            if performance in tables
            else None
        ),
        approval=(
            _awaiting_approval(settings, config, str(challenger), gates)
            if challenger is not None
            else None
        ),
        decisions=_decisions(connection, decisions) if decisions in tables else None,
        requests=_frame(_requests(connection, requests)) if requests in tables else None,
        aliases=_frame(registry.history(settings, config.model.name).iloc[::-1]),
        entity=entity,
        lineage=lineage,
        chain=chain,
        day=day,
        grid=grid,
        raw_problem=raw_problem,
        stages=STAGES,
    )
