"""The steps of ``nightjar_monitor``, one per task: measure_drift, and open_snapshot ->
measure_performance; then request_retrain (the loop guard) -> close_snapshot."""

from __future__ import annotations

import datetime as dt
import logging

from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.errors import MissingInputError
from nightjar.core.run_info import RunInfo
from nightjar.core.settings import Settings
from nightjar.io import tracking
from nightjar.pipeline.common import StepSkipped, pinned, step_context
from nightjar.pipeline.contracts import (
    DriftMeasurement,
    NightDrift,
    NightPerformance,
    RealisedPerformance,
    RetrainRequest,
    SnapshotRef,
)
from nightjar.pipeline.snapshot import close_snapshot, open_snapshot
from nightjar.promotion import registry

__all__ = [
    "close_snapshot",
    "measure_drift",
    "measure_performance",
    "open_snapshot",
    "request_retrain",
]

log = logging.getLogger(__name__)
MONITOR_CATCH_UP = dt.timedelta(days=31)


def measure_drift(run: RunInfo) -> DriftMeasurement:
    """Drift of each scored date the run was triggered for, and of every scored date since
    ``MONITOR_CATCH_UP`` before them that has no drift measurement yet, oldest first.

    The catch-up is what makes "every scored date is monitored" hold under Airflow:
    an Asset event that lands while the scheduler creates the previous consumer run is
    dropped from Airflow's queue (its queue row is deleted with the consumed ones), so no
    run would name its date; its scores are written before the event, so the next run
    finds them here."""
    settings, config = step_context()
    missed = _unmonitored_dates(settings, config, since=min(run.dates)) - set(run.dates)
    if missed:
        log.info("also measuring scored dates no run has monitored: %s", sorted(missed))
    results = []
    for day in sorted(set(run.dates) | missed):
        try:
            results.append(_measure_night(run.for_date(day)))
        except Exception:
            if day not in missed:
                raise
            # A date caught up on must not block the dates this run was started for.
            log.exception("could not measure missed date %s; it stays unmonitored", day)
    return DriftMeasurement(**results[-1].model_dump(), dates=results)


def _unmonitored_dates(
    settings: Settings, config: DatasetConfig, *, since: dt.date
) -> set[dt.date]:
    from nightjar.io.delta_tables import partition_dates
    from nightjar.scoring.scorer import SCORE_DATE

    scored = partition_dates(settings.table_uri(config.table_name("scores")), SCORE_DATE)
    monitored = partition_dates(settings.table_uri(config.table_name("drift_metrics")), SCORE_DATE)
    return {day for day in scored - monitored if day >= since - MONITOR_CATCH_UP}


def _measure_night(run: RunInfo) -> NightDrift:
    from nightjar.monitoring.drift import measure_drift as measure
    from nightjar.scoring.scorer import resolve_alias

    settings, config = step_context()
    champion = resolve_alias(settings, config.model.name, registry.CHAMPION)
    if champion is None:
        raise MissingInputError(f"model {config.model.name!r} has no champion to monitor")
    summary = measure(
        settings, config, champion, run.target_date, settings.reports_dir(config.name)
    )
    return NightDrift(
        score_date=run.target_date,
        breached=summary.breached,
        drifted=summary.drifted,
        prediction_psi=summary.prediction_psi,
        window=summary.window,
        reference=summary.reference,
        data_quality=summary.data_quality,
        report_html=summary.report_html,
        model_version=champion.version,
        model_run_id=champion.run_id,
    )


def measure_performance(run: RunInfo, snapshot: SnapshotRef) -> RealisedPerformance:
    """Realised metrics for the scores whose labels landed by each of the run's dates, by
    date (None for a date whose labels have not landed yet)."""
    from nightjar.monitoring.performance import measure_performance as measure

    settings, config = step_context()
    nights = {}
    for day in run.dates:
        measured = measure(settings, config, pinned(snapshot), day)
        nights[day] = measured and NightPerformance.model_validate(measured)
    return RealisedPerformance(nights=nights)


def request_retrain(
    run: RunInfo, drift: DriftMeasurement, performance: RealisedPerformance | None = None
) -> RetrainRequest:
    """Apply the loop guard to each measured date's drift or performance drop, oldest
    first (each decision is recorded before the next is taken, so one breach fires once);
    raise StepSkipped (no Asset event) unless one fired. The request names the newest
    date that fired: the retrain trains as of it."""
    from nightjar.monitoring import retrain_policy

    settings, config = step_context()
    table = config.table_name("retrain_decisions")
    realised = performance.nights if performance else {}
    fired, reasons = [], []
    for measured in drift.dates:
        day = measured.score_date
        night = realised.get(day)
        champion_run = tracking.client(settings).get_run(measured.model_run_id)
        trained_as_of = champion_run.data.params.get("as_of")
        decision = retrain_policy.decide(
            config.drift,
            window=day,
            breached=measured.breached or bool(night and night.below_threshold),
            history=retrain_policy.load_history(settings, table),
            champion_trained_through=(
                dt.date.fromisoformat(trained_as_of) if trained_as_of else None
            ),
            model_version=measured.model_version,
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
    return RetrainRequest(date=day, as_of=day, reason=reason)
