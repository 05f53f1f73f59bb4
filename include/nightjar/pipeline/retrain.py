"""The steps of ``nightjar_retrain``, one per task: guard -> open_snapshot -> build_features
-> train -> evaluate_gate -> register_and_promote -> close_snapshot."""

from __future__ import annotations

import datetime as dt
import logging
from typing import NoReturn

from nightjar.core import notices
from nightjar.core.notices import Notice
from nightjar.core.run_info import RunInfo
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import TAG_MODEL_SHA256, TAG_RUN_ID
from nightjar.io import tracking
from nightjar.pipeline.common import StepSkipped, pinned, step_context
from nightjar.pipeline.contracts import (
    GateVerdict,
    Registration,
    SnapshotRef,
    TrainedModel,
    TrainingAllowed,
    TrainingFeatures,
)
from nightjar.pipeline.snapshot import close_snapshot, open_snapshot
from nightjar.promotion import registry

__all__ = [
    "build_features",
    "close_snapshot",
    "evaluate_gate",
    "guard",
    "open_snapshot",
    "register_and_promote",
    "request_weekly_retrain",
    "train",
]

log = logging.getLogger(__name__)


def guard(run: RunInfo, *, force: bool) -> TrainingAllowed:
    """Skip a retrain when a model trained on nearly the same data exists (no double-train);
    the rule is ``retrain_rule.training_declined``. A run started by retrain requests
    records in the request log that it took them: started, or declined and why. A request
    is taken once: a run for requests another run already took (a monitoring run raised
    them again before that one started) skips and records nothing."""
    from nightjar.core.retrain_rule import training_declined
    from nightjar.monitoring.loop_guard import trained_as_of
    from nightjar.monitoring.retrain_log import STARTED

    settings, config = step_context(run)
    if not force and (already := _taken_elsewhere(run)):
        raise StepSkipped(f"the request of {already} was already taken by another retrain run")
    reason = training_declined(
        config.model.retrain_cooldown_days,
        requested=_requested(run),
        as_of=run.target_date,
        trained_as_of=trained_as_of(settings, config),
    )
    if not reason and not force:
        reason = _empty_window(run)
    if reason and not force:
        _decline(run, reason)
    _record(run, STARTED, f"training as of {run.target_date}")
    return TrainingAllowed(as_of=run.target_date)


def _decline(run: RunInfo, reason: str) -> NoReturn:
    """Log the decline for the requests the run takes, note it, and skip the run."""
    from nightjar.monitoring.retrain_log import DECLINED

    config = step_context(run)[1]
    _record(run, DECLINED, reason)
    notices.note(
        Notice(
            "retrain_declined",
            f"{config.name}: the retrain as of {run.target_date} was declined",
            f"{run.dag_id} {run.run_id} declined to train {config.model.name} as of "
            f"{run.target_date}: {reason}",
            {"as_of": run.target_date.isoformat(), "reason": reason},
        )
    )
    raise StepSkipped(reason)


def _taken_elsewhere(run: RunInfo) -> str | None:
    """The run's request dates, when every one was taken by another run already."""
    asked, ours = _request_dates(run)
    return ", ".join(map(str, asked)) if asked and not ours else None


def _empty_window(run: RunInfo) -> str | None:
    """Why the run's training window has nothing to learn from, or None: the label
    partitions on main (``retrain_rule.window_without_labels``)."""
    from nightjar.core.retrain_rule import window_without_labels
    from nightjar.io import raw_tables
    from nightjar.io.lakefs_client import make_client
    from nightjar.io.snapshots import MAIN
    from nightjar.training.trainer import training_window

    settings, config = step_context(run)
    source = config.sources[config.label.source]
    labelled = raw_tables.list_partitions(
        make_client(settings), settings.lakefs_repository, MAIN, source.path
    )
    return window_without_labels(*training_window(config, run.target_date), labelled)


def request_weekly_retrain(run: RunInfo) -> str:
    """The date the weekly schedule requests a retrain as of: its run's."""
    return run.target_date.isoformat()


def _request_dates(run: RunInfo) -> tuple[list[dt.date], list[dt.date]]:
    """The run's dates that the request log holds a request for, and those of them this
    run takes: no other run took them (or this run did, earlier in it)."""
    from nightjar.monitoring.retrain_log import read_events, requests, taken_by, waiting

    settings, config = step_context(run)
    events = read_events(settings, config)
    asked = [day for day in run.dates if day in requests(events)]
    open_to_us = waiting(events).keys() | taken_by(events, run.run_id)
    return asked, [day for day in asked if day in open_to_us]


def _requests_taken(run: RunInfo) -> list[dt.date]:
    """The loop guard's requests this run takes."""
    return _request_dates(run)[1]


def _requested(run: RunInfo) -> bool:
    """Whether the run takes a request of the loop guard (not the schedule's, or a person's)."""
    return bool(_requests_taken(run))


def _record(run: RunInfo, event: str, reason: str, *, model_version: str | None = None) -> None:
    """Append ``event`` to the request log for each request the run takes."""
    taken = _requests_taken(run)
    if not taken:
        return
    from nightjar.monitoring.retrain_log import RequestEvent, append_events

    settings, config = step_context(run)
    now = dt.datetime.now(dt.UTC)
    append_events(
        settings,
        config,
        [
            RequestEvent(day, event, now, run.run_id, reason, model_version=model_version)
            for day in taken
        ],
    )


def build_features(run: RunInfo, snapshot: SnapshotRef) -> TrainingFeatures:
    """Compute the training window's features from the pinned snapshot into
    ``training_features_*``, keyed by this run's branch."""
    from nightjar.features.job import run_feature_job
    from nightjar.training.trainer import TRAINING_RUN, training_window

    settings, config = step_context(run)
    start, end = training_window(config, run.target_date)
    result = run_feature_job(
        settings,
        config,
        pinned(snapshot),
        start=start,
        end=end,
        table=config.table_name("training_features"),
        partition_column=TRAINING_RUN,
        partition_value=snapshot.branch,
    )
    return TrainingFeatures(
        training_key=snapshot.branch,
        rows=result.rows,
        quarantined=result.quarantined,
        feature_spec=result.feature_spec,
    )


def train(
    run: RunInfo, snapshot: SnapshotRef, features: TrainingFeatures, *, intent: str
) -> TrainedModel:
    """Train on the pinned snapshot's features and labels, logging the model and its lineage to
    MLflow."""
    from nightjar.training.trainer import train_and_log

    settings, config = step_context(run)
    result = train_and_log(
        settings,
        config,
        pinned(snapshot),
        training_key=features.training_key,
        as_of=run.target_date,
        intent=intent,
        airflow_run=run.as_tags(),
    )
    return TrainedModel.model_validate(result, from_attributes=True)


def evaluate_gate(run: RunInfo, trained: TrainedModel, snapshot: SnapshotRef) -> GateVerdict:
    """Run the gate and record the decision. A failed gate fails the task (GateFailedError,
    the failing checks in its message), so the run shows failed in Airflow's grid and API
    and registration does not run; it closes the run's branch first, since the task that
    would have closed it will not run either. A model byte-identical to the champion is
    no failure: the step skips, and nothing is registered."""
    from nightjar.core.errors import GateFailedError
    from nightjar.evaluation.evaluate import evaluate_challenger
    from nightjar.scoring.scorer import resolve_alias

    settings, config = step_context(run)
    champion = resolve_alias(settings, config.model.name, registry.CHAMPION)
    from nightjar.monitoring.retrain_log import GATE_FAILED

    if champion is not None and _model_sha256(settings, champion.run_id) == trained.model_sha256:
        reason = (
            f"the new model is byte-identical to champion v{champion.version} "
            f"(sha256 {trained.model_sha256[:12]}): nothing to register"
        )
        _decline(run, reason)
    decision = evaluate_challenger(settings, config, trained.run_id, run)
    log.info("%s", decision.summary())
    if not decision.passed:
        _record(run, GATE_FAILED, decision.summary())
        close_snapshot(run, snapshot)
        # Noted last: an error before it is retried, and the retry notes it once.
        notices.note(
            Notice(
                "gate_failed",
                f"{config.name}: a {config.model.name} challenger failed the gate",
                f"{run.dag_id} {run.run_id} (MLflow run {trained.run_id}):\n{decision.summary()}",
                {"mlflow_run_id": trained.run_id, "decision": decision.as_dict()},
            )
        )
        raise GateFailedError("promotion stopped by the gate:\n" + decision.summary())
    return GateVerdict.model_validate(decision.as_dict())


def _model_sha256(settings: Settings, run_id: str) -> str | None:
    return tracking.client(settings).get_run(run_id).data.tags.get(TAG_MODEL_SHA256)


def register_and_promote(
    run: RunInfo, trained: TrainedModel, decision: GateVerdict
) -> Registration:
    """Register the version as challenger, with its forest compiled and checked for the
    nightly runs (``promotion.compilation``; a failure there leaves the Booster); make it
    champion if the promotion rule allows it now."""
    from nightjar.core.gate_policy import load_policy
    from nightjar.promotion.compilation import compile_and_check
    from nightjar.promotion.rule import may_promote

    settings, config = step_context(run)
    name = config.model.name
    version = registry.register(
        settings,
        trained.model_uri,
        name,
        tags={TAG_RUN_ID: trained.run_id, TAG_MODEL_SHA256: trained.model_sha256},
    )
    compiled = compile_and_check(
        settings, config, name, version, run_id=trained.run_id, model_sha256=trained.model_sha256
    ).summary()
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
    from nightjar.monitoring.retrain_log import TRAINED

    if not verdict.allowed:
        log.info("%s %s", name, verdict.reason)
        _record(run, TRAINED, f"v{version} registered as challenger: {verdict.reason}",
                model_version=version)  # fmt: skip
        # Noted last, as the failed gate: a retry after an error above notes it once.
        notices.note(
            Notice(
                "awaiting_approval",
                f"{config.name}: {name} v{version} awaits approval",
                f"{name} v{version} passed the gate and is challenger ({run.dag_id} "
                f"{run.run_id}): {verdict.reason}",
                {"model_name": name, "version": version, "reason": verdict.reason},
            )
        )
        return Registration(model_name=name, version=version, promoted=False, compiled=compiled)
    registry.promote(
        settings,
        name,
        version,
        actor=run.dag_id,
        reason=decision.note or "passed the evaluation gate",
        dag_run_id=run.run_id,
    )
    from nightjar.promotion.model_card import write_model_card

    write_model_card(settings, config, name, version)
    _record(run, TRAINED, f"v{version} is champion", model_version=version)
    return Registration(model_name=name, version=version, promoted=True, compiled=compiled)
