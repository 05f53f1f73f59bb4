"""The steps of ``nightjar_monitor``, one per task: measure_drift and open_snapshot, then
request_retrain (realised performance, the loop guard, closing the snapshot).

A run monitors the date it was started for: the scores Asset's partition (one run per
scored date, so a backfill's dates are monitored concurrently), or ``date`` in a manual
run's conf. Realised performance is measured for every date whose labels are due, and
the loop guard decides every night it has complete inputs for.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from nightjar.core import notices
from nightjar.core.notices import Notice
from nightjar.core.run_info import RunInfo
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

if TYPE_CHECKING:
    from nightjar.core.dataset_config import DatasetConfig
    from nightjar.monitoring.retrain_log import RequestEvent

__all__ = ["measure_drift", "measure_performance", "open_snapshot", "request_retrain"]

log = logging.getLogger(__name__)


def measure_drift(run: RunInfo) -> DriftMeasurement:
    """Drift and the retrain signals of each of the run's dates, under the version that
    served it, with a report."""
    from nightjar.monitoring.night_signals import measure_night

    settings, config = step_context(run)
    nights = []
    for day in run.dates:
        measured = measure_night(
            settings,
            config,
            day,
            reports_dir=settings.reports_dir(config.name),
            dag_run_id=run.run_id,
        )
        summary = measured.drift
        nights.append(
            NightDrift(
                score_date=day,
                breached=summary.breached,
                drifted=summary.drifted,
                prediction_psi=summary.prediction_psi,
                window=summary.window,
                reference=summary.reference,
                data_quality=summary.data_quality,
                report_html=summary.report_html,
                model_version=measured.model.version,
                model_run_id=measured.model.run_id,
                estimated_roc_auc=measured.row["estimated_roc_auc"],
                expected_roc_auc=measured.row["expected_roc_auc"],
                drifted_importance_share=measured.row["drifted_importance_share"],
            )
        )
    return DriftMeasurement(**nights[-1].model_dump(), dates=nights)


def measure_performance(run: RunInfo, snapshot: SnapshotRef) -> RealisedPerformance:
    """Realised metrics of every scored date whose labels are due at the run's commit and
    not measured yet, or changed since they were (the run's own dates among them)."""
    from nightjar.monitoring.performance import dates_to_measure, measure_dates

    settings, config = step_context(run)
    days = dates_to_measure(settings, config, pinned(snapshot))
    if days:
        log.info("measuring realised performance of %d date(s): %s", len(days), _span(days))
    measured = measure_dates(settings, config, pinned(snapshot), days)
    return RealisedPerformance(
        nights={
            day: night and NightPerformance.model_validate(night) for day, night in measured.items()
        }
    )


def request_retrain(
    run: RunInfo, snapshot: SnapshotRef, drift: DriftMeasurement, *, raise_waiting: bool = True
) -> RetrainRequest:
    """Measure the realised performance of the dates whose labels are due, apply the loop
    guard to every night it has complete inputs for (``monitoring.loop_guard``), and close
    the run's snapshot; raise StepSkipped (no Asset event) unless the guard made a
    request or an earlier one still waits for a retrain run (Airflow drops Asset events
    for a paused DAG: the next monitoring run raises them again, unless ``raise_waiting``
    is off because a retrain run is queued or running and will take them). The event
    names each such night; nightjar_retrain runs once per night and trains as of it."""
    from nightjar.monitoring.loop_guard import settle

    measure_performance(run, snapshot)
    settings, config = step_context(run)
    settled = settle(settings, config, pinned(snapshot), dag_run_id=run.run_id)
    # Noted before anything else can fail: a retry finds these requests logged already
    # and makes none, so this is their only notice.
    _note_requests(run, config, settled.requested)
    close_snapshot(run, snapshot)
    ours = [d for d in settled.decisions if d.decision_date in run.dates]
    said = "; ".join(f"{d.decision_date}: {d.reason}" for d in ours) or "no decision yet"
    waiting = settled.waiting if raise_waiting else []
    if waiting:
        log.info(
            "raising again %d earlier retrain request(s) no retrain run took (%s): "
            "nightjar_retrain was paused when they were made, or its run failed first",
            len(waiting),
            _span([event.request_date for event in waiting]),
        )
    if not settled.requested and not waiting:
        raise StepSkipped(f"no retrain request: {said}")
    requested = sorted([*settled.requested, *waiting], key=lambda event: event.request_date)
    newest = requested[-1]
    return RetrainRequest(
        date=newest.request_date,
        as_of=newest.request_date,
        reason=newest.reason,
        dates=[event.request_date for event in requested],
    )


def _note_requests(run: RunInfo, config: DatasetConfig, requested: list[RequestEvent]) -> None:
    """A ``retrain_requested`` notice for each request the loop guard just made."""
    for event in requested:
        notices.note(
            Notice(
                "retrain_requested",
                f"{config.name}: a retrain is requested as of {event.request_date}",
                f"The loop guard requested a retrain of {config.model.name} as of "
                f"{event.request_date} ({run.dag_id} {run.run_id}): {event.reason}",
                {"request_date": event.request_date.isoformat(), "reason": event.reason},
            )
        )


def _span(days: list) -> str:
    return ", ".join(map(str, days)) if len(days) <= 3 else f"{days[0]}..{days[-1]}"
