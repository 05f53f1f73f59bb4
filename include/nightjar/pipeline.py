"""The pipeline steps the DAGs wire together, free of Airflow so they test on their own.

Each step takes a ``RunInfo`` and plain values, returns a JSON-able dict for XCom, and
is safe to retry: inputs are pinned (lakeFS commit, model version), outputs replace
exactly what the step owns (a Delta partition, an alias if it is not already set).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nightjar.core.dataset_config import DatasetConfig, load_dataset_config
from nightjar.core.errors import MissingInputError
from nightjar.core.run_info import RunInfo
from nightjar.core.settings import Settings, load_settings
from nightjar.core.vocabulary import TAG_MODEL_SHA256, TAG_RUN_ID
from nightjar.features.definitions import FEATURE_DATE
from nightjar.io import snapshots, tracking
from nightjar.io.lakefs_client import make_client
from nightjar.io.snapshots import Snapshot
from nightjar.promotion import registry

log = logging.getLogger(__name__)


class StepSkipped(Exception):
    """The step decided not to act (a failed gate, no drift); the message says why."""


def _context() -> tuple[Settings, DatasetConfig]:
    settings = load_settings()
    return settings, load_dataset_config(settings.dataset_config)


def open_snapshot(run: RunInfo) -> dict[str, str]:
    """Create the run's lakeFS branch and pin the commit every later step reads."""
    settings, _ = _context()
    snapshot = snapshots.open_run_snapshot(
        make_client(settings), settings.lakefs_repository, run.dag_id, run.run_id
    )
    return snapshot.as_dict()


def close_snapshot(run: RunInfo, snapshot: dict[str, str] | None) -> None:
    """Delete a finished run's branch; it carried no writes, only the pinned commit.

    A failed run never gets here, so its branch stays for debugging; a run that declined
    before opening one (a guard said no) has nothing to close."""
    if snapshot is None:
        raise StepSkipped("no snapshot was opened: nothing to close")
    settings, _ = _context()
    snapshots.delete_branch(make_client(settings), snapshot["repository"], snapshot["branch"])


# --- training -----------------------------------------------------------------------------


def guard_training(run: RunInfo, *, force: bool) -> dict[str, Any]:
    """Skip a retrain when a model trained on nearly the same data exists (no double-train);
    the rule is ``retrain_policy.training_declined``."""
    from nightjar.monitoring.retrain_policy import training_declined

    settings, config = _context()
    experiment = tracking.ensure_experiment(settings, config.name)
    runs = tracking.client(settings).search_runs(
        [experiment],
        filter_string="attributes.status = 'FINISHED'",
        order_by=["params.as_of DESC"],
        max_results=1,
    )
    newest = runs[0].data.params.get("as_of") if runs else None
    reason = training_declined(
        config.model.retrain_cooldown_days,
        requested=run.run_type == "asset_triggered",
        as_of=run.target_date,
        newest_as_of=dt.date.fromisoformat(newest) if newest else None,
    )
    if reason and not force:
        raise StepSkipped(reason)
    return {"as_of": run.target_date.isoformat()}


def build_training_features(run: RunInfo, snapshot: dict[str, str]) -> dict[str, Any]:
    """Compute the training window's features from the pinned snapshot into
    ``training_features_*``, keyed by this run's branch."""
    from nightjar.features.job import run_feature_job
    from nightjar.training.trainer import TRAINING_RUN, training_window

    settings, config = _context()
    start, end = training_window(config, run.target_date)
    result = run_feature_job(
        settings,
        config,
        Snapshot(**snapshot),
        start=start,
        end=end,
        table=config.table_name("training_features"),
        partition_column=TRAINING_RUN,
        partition_value=snapshot["branch"],
    )
    return {
        "training_key": snapshot["branch"],
        "rows": result.rows,
        "quarantined": result.quarantined,
        "feature_spec": result.feature_spec,
    }


def train(
    run: RunInfo, snapshot: dict[str, str], features: dict[str, Any], *, intent: str
) -> dict[str, Any]:
    """Train on the pinned snapshot's features and labels, logging the model and its lineage to
    MLflow."""
    from nightjar.training.trainer import train_and_log

    settings, config = _context()
    result = train_and_log(
        settings,
        config,
        Snapshot(**snapshot),
        training_key=features["training_key"],
        as_of=run.target_date,
        intent=intent,
        airflow_run=run.as_tags(),
    )
    return {
        "run_id": result.run_id,
        "model_uri": result.model_uri,
        "model_id": result.model_id,
        "model_sha256": result.model_sha256,
        "holdout_metrics": result.holdout_metrics,
    }


def evaluate(run: RunInfo, trained: dict[str, Any]) -> dict[str, Any]:
    """Run the gate; record the decision; raise StepSkipped with the reasons if it fails."""
    from nightjar.evaluation.evaluate import evaluate_challenger
    from nightjar.scoring.scorer import resolve_alias

    settings, config = _context()
    champion = resolve_alias(settings, config.model.name, registry.CHAMPION)
    if champion is not None and _model_sha256(settings, champion.run_id) == trained["model_sha256"]:
        raise StepSkipped(
            f"the new model is byte-identical to champion v{champion.version} "
            f"(sha256 {trained['model_sha256'][:12]}): nothing to register"
        )
    decision = evaluate_challenger(settings, config, trained["run_id"], run)
    log.info("%s", decision.summary())
    if not decision.passed:
        from nightjar.evaluation import notify

        notify.gate_failed(settings, config, decision, run, trained["run_id"])
        raise StepSkipped("promotion stopped by the gate:\n" + decision.summary())
    return decision.as_dict()


def _model_sha256(settings: Settings, run_id: str) -> str | None:
    return tracking.client(settings).get_run(run_id).data.tags.get(TAG_MODEL_SHA256)


def register_and_promote(
    run: RunInfo, trained: dict[str, Any], decision: dict[str, Any]
) -> dict[str, Any]:
    """Register the version as challenger; make it champion if the promotion rule allows it
    now."""
    from nightjar.core.gate_policy import load_policy
    from nightjar.promotion.rule import may_promote

    settings, config = _context()
    name = config.model.name
    version = registry.register(
        settings,
        trained["model_uri"],
        name,
        tags={
            TAG_RUN_ID: trained["run_id"],
            TAG_MODEL_SHA256: trained["model_sha256"],
        },
    )
    registry.move_alias(
        settings,
        name,
        registry.CHALLENGER,
        version,
        actor=run.dag_id,
        reason="passed the evaluation gate",
        dag_run_id=run.run_id,
    )
    verdict = may_promote(
        load_policy(config.gate_policy),
        version=version,
        gate_passed=True,  # this task runs only after the gate passed
        shadow_nights=0,  # a version registered just now has not been shadow-scored
        by_person=False,
    )
    if not verdict.allowed:
        log.info("%s %s", name, verdict.reason)
        return {"model_name": name, "version": version, "promoted": False}
    registry.promote(
        settings,
        name,
        version,
        actor=run.dag_id,
        reason=decision.get("note") or "passed the evaluation gate",
        dag_run_id=run.run_id,
    )
    from nightjar.promotion.model_card import write_model_card

    write_model_card(settings, config, name, version)
    return {"model_name": name, "version": version, "promoted": True}


# --- scoring ------------------------------------------------------------------------------


def resolve_models(run: RunInfo) -> dict[str, Any]:
    """Pin the champion (and challenger, for shadow scoring) once, at run start."""
    from nightjar.scoring.scorer import resolve_alias

    settings, config = _context()
    champion = resolve_alias(settings, config.model.name, registry.CHAMPION)
    if champion is None:
        raise MissingInputError(
            f"model {config.model.name!r} has no champion yet: run the "
            "nightjar_retrain DAG (or `nightjar demo`) first"
        )
    challenger = resolve_alias(settings, config.model.name, registry.CHALLENGER)
    log.info(
        "scoring %s with %s v%s%s",
        run.target_date,
        champion.name,
        champion.version,
        f" (shadow: v{challenger.version})" if challenger else "",
    )
    return {"champion": champion.__dict__, "challenger": challenger and challenger.__dict__}


def build_scoring_features(run: RunInfo, snapshot: dict[str, str]) -> dict[str, Any]:
    """The features of each of the run's dates (one, unless Asset events were batched)."""
    return _each_date(run, lambda night: _build_scoring_features(night, snapshot))


def _each_date(run: RunInfo, step: Callable[[RunInfo], dict[str, Any]]) -> dict[str, Any]:
    """Run ``step`` for each of the run's dates, oldest first: the newest date's result,
    with every date's under ``dates``."""
    results = [step(run.for_date(day)) for day in run.dates]
    return {**results[-1], "dates": results}


def _build_scoring_features(run: RunInfo, snapshot: dict[str, str]) -> dict[str, Any]:
    from nightjar.features.job import run_feature_job

    settings, config = _context()
    result = run_feature_job(
        settings,
        config,
        Snapshot(**snapshot),
        start=run.target_date,
        end=run.target_date,
        table=config.table_name("features"),
        partition_column=FEATURE_DATE,
        partition_value=run.target_date,
    )
    return {
        "score_date": run.target_date.isoformat(),
        "rows": result.rows,
        "quarantined": result.quarantined,
        "feature_spec": result.feature_spec,
    }


def score(run: RunInfo, models: dict[str, Any]) -> dict[str, Any]:
    """Score each of the run's dates; see ``_score_one_date``."""
    return _each_date(run, lambda night: _score_one_date(night, models))


def _score_one_date(run: RunInfo, models: dict[str, Any]) -> dict[str, Any]:
    """Score the night with the pinned champion into the scores table, and the challenger
    (if any) into the shadow table; with ``model.canary_share`` set, the canary's entities
    are served the challenger's scores."""
    from nightjar.scoring import shadow
    from nightjar.scoring.scorer import (
        ModelRef,
        ScoringContext,
        canary_mix,
        load_model_text,
        score_table,
        write_scores,
    )
    from nightjar.training.trainer import load_categories

    settings, config = _context()
    context = ScoringContext(
        score_date=run.target_date,
        dag_run_id=run.run_id,
        logical_date=run.logical_date,
        data_interval_end=run.interval_end,
    )
    scored = {}
    for role in ("champion", "challenger"):
        if models.get(role):
            model = ModelRef(**models[role])
            scored[role] = score_table(
                settings,
                config,
                model,
                context,
                categories=load_categories(settings, model.run_id),
                model_text=load_model_text(settings, model),
            )
    served = scored["champion"]
    share = config.model.canary_share
    if "challenger" in scored and share > 0:
        served = canary_mix(served, scored["challenger"], key=config.entity_key, share=share)
    scores_table = config.table_name("scores")
    rows = {"champion": write_scores(settings, served, table=scores_table, context=context)}
    comparison = None
    if "challenger" in scored:
        shadow_table = config.table_name("shadow_scores")
        rows["challenger"] = write_scores(
            settings, scored["challenger"], table=shadow_table, context=context
        )
        comparison = shadow.record_night(settings, config, run.target_date)
    champion = models["champion"]
    return {
        "score_date": run.target_date.isoformat(),
        "rows": rows,
        "shadow_agreement": comparison and comparison["decision_agreement"],
        # The pinned champion, for the task's links to its MLflow run, version and card.
        "model_name": champion["name"],
        "version": champion["version"],
        "run_id": champion["run_id"],
    }


# --- data-aware triggering ---------------------------------------------------------------

MANUAL_LOOKBACK = dt.timedelta(hours=24)


def detect_raw_changes(run: RunInfo) -> dict[str, Any]:
    """Dates of scoring sources that commits on main changed in the run's interval (the
    last 24 hours for a manual run); StepSkipped, so no Asset event, when there are none."""
    from nightjar.ingest.raw_changes import raw_changes, scoring_source_paths

    settings, config = _context()
    end = run.interval_end
    start = run.interval_start or end - MANUAL_LOOKBACK
    changes = raw_changes(make_client(settings), settings.lakefs_repository, config, start, end)
    if not changes.dates:
        raise StepSkipped(
            f"no commit on main changed {', '.join(scoring_source_paths(config))} "
            f"between {start.isoformat()} and {end.isoformat()}"
        )
    log.info(
        "%d commit(s) on main changed %d date(s); requesting scoring of %s",
        len(changes.commits),
        len(changes.dates),
        changes.dates[-1],
    )
    return {
        "date": changes.dates[-1].isoformat(),
        "dates": [day.isoformat() for day in changes.dates],
        "commit_id": changes.head,
        "repository": settings.lakefs_repository,
        "commits": changes.commits,
    }


# --- monitoring ---------------------------------------------------------------------------


MONITOR_CATCH_UP = dt.timedelta(days=31)


def measure_drift(run: RunInfo) -> dict[str, Any]:
    """Drift of each scored date the run was triggered for, and of every scored date since
    ``MONITOR_CATCH_UP`` before them that has no drift measurement yet, oldest first.

    The catch-up is what makes "every scored date is monitored" hold under Airflow:
    an Asset event that lands while the scheduler creates the previous consumer run is
    dropped from Airflow's queue (its queue row is deleted with the consumed ones), so no
    run would name its date; its scores are written before the event, so the next run
    finds them here."""
    settings, config = _context()
    missed = _unmonitored_dates(settings, config, since=min(run.dates)) - set(run.dates)
    if missed:
        log.info("also measuring scored dates no run has monitored: %s", sorted(missed))
    results = []
    for day in sorted(set(run.dates) | missed):
        try:
            results.append(_measure_drift(run.for_date(day)))
        except Exception:
            if day not in missed:
                raise
            # A date caught up on must not block the dates this run was started for.
            log.exception("could not measure missed date %s; it stays unmonitored", day)
    return {**results[-1], "dates": results}


def _unmonitored_dates(
    settings: Settings, config: DatasetConfig, *, since: dt.date
) -> set[dt.date]:
    from nightjar.io.delta_tables import partition_dates
    from nightjar.scoring.scorer import SCORE_DATE

    scored = partition_dates(settings.table_uri(config.table_name("scores")), SCORE_DATE)
    monitored = partition_dates(settings.table_uri(config.table_name("drift_metrics")), SCORE_DATE)
    return {day for day in scored - monitored if day >= since - MONITOR_CATCH_UP}


def _measure_drift(run: RunInfo) -> dict[str, Any]:
    from nightjar.monitoring.drift import measure_drift as measure
    from nightjar.scoring.scorer import resolve_alias

    settings, config = _context()
    champion = resolve_alias(settings, config.model.name, registry.CHAMPION)
    if champion is None:
        raise MissingInputError(f"model {config.model.name!r} has no champion to monitor")
    summary = measure(settings, config, champion, run.target_date, reports_dir(settings, config))
    return {
        "score_date": run.target_date.isoformat(),
        "breached": summary.breached,
        "drifted": summary.drifted,
        "prediction_psi": summary.prediction_psi,
        "window": [day.isoformat() for day in summary.window],
        "reference": summary.reference,
        "data_quality": summary.data_quality,
        "report_html": summary.report_html,
        "model_version": champion.version,
        "model_run_id": champion.run_id,
    }


def measure_performance(run: RunInfo, snapshot: dict[str, str]) -> dict[str, dict[str, Any] | None]:
    """Realised metrics for the scores whose labels landed by each of the run's dates, by
    date (None for a date whose labels have not landed yet)."""
    from nightjar.monitoring.performance import measure_performance as measure

    settings, config = _context()
    return {
        day.isoformat(): measure(settings, config, Snapshot(**snapshot), day) for day in run.dates
    }


def decide_retrain(
    run: RunInfo,
    drift: dict[str, Any],
    performance: dict[str, dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """Apply the loop guard to each measured date's drift or performance drop, oldest
    first (each decision is recorded before the next is taken, so one breach fires once);
    raise StepSkipped (no Asset event) unless one fired. The request names the newest
    date that fired: the retrain trains as of it."""
    from nightjar.monitoring import retrain_policy

    settings, config = _context()
    table = config.table_name("retrain_decisions")
    performance = performance or {}
    fired, reasons = [], []
    for measured in drift["dates"]:
        day = dt.date.fromisoformat(measured["score_date"])
        realised = performance.get(measured["score_date"])
        champion_run = tracking.client(settings).get_run(measured["model_run_id"])
        trained_as_of = champion_run.data.params.get("as_of")
        decision = retrain_policy.decide(
            config.drift,
            window=day,
            breached=measured["breached"] or bool(realised and realised["below_threshold"]),
            history=retrain_policy.load_history(settings, table),
            champion_trained_through=(
                dt.date.fromisoformat(trained_as_of) if trained_as_of else None
            ),
            model_version=measured["model_version"],
        )
        retrain_policy.record(settings, table, decision)
        log.info(
            "retrain decision for %s: %s (%s)",
            day,
            "FIRED" if decision.fired else "suppressed",
            decision.reason,
        )
        reasons.append(f"{day}: {decision.reason}")
        if decision.fired:
            fired.append((day, decision.reason))
    if not fired:
        raise StepSkipped("no retrain request: " + "; ".join(reasons))
    day, reason = fired[-1]
    return {"date": day.isoformat(), "as_of": day.isoformat(), "reason": reason}


def reports_dir(settings: Settings, config: DatasetConfig) -> Path:
    """Where a dataset's HTML drift reports are written (and served from)."""
    return settings.home_dir / "reports" / config.name
