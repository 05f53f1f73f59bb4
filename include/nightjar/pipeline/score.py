"""The steps of ``nightjar_score``, one per task: open_snapshot (the run's lakeFS commit and
model versions, pinned once) -> build_features -> score (which closes the snapshot).

Three tasks, not five: pinning the models beside the commit, and deleting the run's
branch after its scores land, gain nothing from tasks of their own, and each task costs a
process start and a scheduler round trip (`bench/nightly_run.py`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from nightjar.core.errors import MissingInputError
from nightjar.core.run_info import RunInfo
from nightjar.features.definitions import FEATURE_DATE
from nightjar.pipeline import snapshot
from nightjar.pipeline.common import pinned, step_context
from nightjar.pipeline.contracts import (
    NightFeatures,
    NightScores,
    PinnedModels,
    ScoredNights,
    ScoringFeatures,
    ScoringInputs,
)
from nightjar.promotion import registry

__all__ = ["build_features", "open_snapshot", "pin_models", "score"]

log = logging.getLogger(__name__)
Night = TypeVar("Night", NightFeatures, NightScores)


def open_snapshot(run: RunInfo) -> ScoringInputs:
    """Pin, once for the run, the lakeFS commit every later step reads (the run's branch)
    and the model versions it scores with."""
    models = pin_models(run)  # first: a dataset without a champion opens no branch
    pinned_snapshot = snapshot.open_snapshot(run)
    return ScoringInputs(**pinned_snapshot.model_dump(), models=models)


def pin_models(run: RunInfo) -> PinnedModels:
    """The champion (and challenger, for shadow scoring), resolved from their aliases."""
    from nightjar.scoring.scorer import resolve_alias

    settings, config = step_context(run)
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
    return PinnedModels.model_validate(
        {"champion": champion, "challenger": challenger}, from_attributes=True
    )


def _each_date(run: RunInfo, step: Callable[[RunInfo], Night]) -> tuple[Night, list[Night]]:
    """Run ``step`` for each of the run's dates, oldest first: the newest date's result,
    and every date's."""
    results = [step(run.for_date(day)) for day in run.dates]
    return results[-1], results


def build_features(run: RunInfo, inputs: ScoringInputs) -> ScoringFeatures:
    """The features of each of the run's dates (one, unless Asset events were batched)."""
    newest, nights = _each_date(run, lambda night: _build_features(night, inputs))
    return ScoringFeatures(**newest.model_dump(), dates=nights)


def _build_features(run: RunInfo, inputs: ScoringInputs) -> NightFeatures:
    from nightjar.features.job import run_feature_job

    settings, config = step_context(run)
    result = run_feature_job(
        settings,
        config,
        pinned(inputs),
        start=run.target_date,
        end=run.target_date,
        table=config.table_name("features"),
        partition_column=FEATURE_DATE,
        partition_value=run.target_date,
    )
    return NightFeatures(
        score_date=run.target_date,
        rows=result.rows,
        quarantined=result.quarantined,
        feature_spec=result.feature_spec,
    )


def score(run: RunInfo, inputs: ScoringInputs) -> ScoredNights:
    """Score each of the run's dates (see ``_score_one_date``), then delete the run's
    branch: it carried no writes, only the pinned commit. A failed run keeps it."""
    newest, nights = _each_date(run, lambda night: _score_one_date(night, inputs.models))
    snapshot.close_snapshot(run, inputs)
    return ScoredNights(**newest.model_dump(), dates=nights)


def _score_one_date(run: RunInfo, models: PinnedModels) -> NightScores:
    """Score the night with the pinned champion into the scores table, and the challenger
    (if any) into the shadow table; with ``model.canary_share`` set, the canary's entities
    are served the challenger's scores."""
    from nightjar.scoring import nightly_summary, shadow
    from nightjar.scoring.scorer import (
        ModelRef,
        ScoringContext,
        canary_mix,
        compiled_artifact_for,
        load_model_text,
        score_partition,
        score_table,
        write_scores,
    )
    from nightjar.training.trainer import load_categories

    settings, config = step_context(run)
    context = ScoringContext(
        score_date=run.target_date,
        dag_run_id=run.run_id,
        logical_date=run.logical_date,
        data_interval_end=run.interval_end,
    )
    pinned = {
        role: ModelRef(**pinned_model.model_dump())
        for role, pinned_model in (("champion", models.champion), ("challenger", models.challenger))
        if pinned_model is not None
    }
    tables = {
        "champion": config.table_name("scores"),
        "challenger": config.table_name("shadow_scores"),
    }
    inputs = {
        role: dict(
            categories=load_categories(settings, model.run_id),
            model_text=load_model_text(settings, model),
            compiled=compiled_artifact_for(settings, model),
        )
        for role, model in pinned.items()
    }
    share = config.model.canary_share
    canary = "challenger" in pinned and share > 0
    if not canary:
        rows = {
            role: score_partition(settings, config, model, context, table=tables[role],
                                  **inputs[role])
            for role, model in pinned.items()
        }  # fmt: skip
    else:
        if settings.scoring_engine == "spark":
            log.warning(
                "a canary mixes the champion's and the challenger's rows in this process: "
                "%s is scored with the Arrow engine",
                run.target_date,
            )
        scored = {
            role: score_table(settings, config, model, context, **inputs[role])
            for role, model in pinned.items()
        }
        if canary:
            scored["champion"] = canary_mix(
                scored["champion"], scored["challenger"], key=config.entity_key, share=share
            )
        rows = {
            role: write_scores(settings, table, table=tables[role], context=context)
            for role, table in scored.items()
        }
    champion = models.champion
    nightly_summary.record_night(
        settings,
        config,
        run.target_date,
        champion_version=champion.version,
        champion_run_id=champion.run_id,
    )
    comparison = None
    if "challenger" in pinned:
        comparison = shadow.record_night(settings, config, run.target_date)
    return NightScores(
        score_date=run.target_date,
        rows=rows,
        shadow_agreement=comparison and comparison["decision_agreement"],
        # The pinned champion, for the task's links to its MLflow run, version and card.
        model_name=champion.name,
        version=champion.version,
        run_id=champion.run_id,
    )
