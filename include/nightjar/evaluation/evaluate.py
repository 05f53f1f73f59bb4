"""Evaluate a trained challenger against the gate policy, on its own holdout.

The current champion, if any, is scored on the very same holdout rows, so the
comparison is like for like. The decision is logged to the challenger's MLflow run
(``gate/decision.json``) and appended to the ``approval_log`` Delta table.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path

import lightgbm as lgb
import pandas as pd
import pyarrow as pa

from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.gate_policy import load_policy
from nightjar.core.run_info import RunInfo
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import GATE_DECISION, HOLDOUT, MODEL_TEXT, TAG_GATE
from nightjar.evaluation.gate import (
    APPROVAL_LOG,
    GateDecision,
    evaluate_gate,
    measure_latency_ms_per_10k,
)
from nightjar.io import delta_tables, tracking
from nightjar.promotion import registry
from nightjar.scoring.scorer import resolve_alias
from nightjar.training.model_inputs import encode
from nightjar.training.trainer import PREDICTION, load_categories

CHAMPION_PREDICTION = "champion_prediction"


def _booster(settings: Settings, run_id: str) -> lgb.Booster:
    return lgb.Booster(model_str=tracking.read_text(settings, run_id, MODEL_TEXT))


def schema_problems(settings: Settings, config: DatasetConfig, run_id: str) -> list[str]:
    """Differences between the model's input signature and the current feature spec."""
    import mlflow

    with tracking.fluent(settings):
        info = mlflow.models.get_model_info(f"runs:/{run_id}/model")
    expected = info.signature.inputs.input_names() if info.signature else []
    current = config.feature_names
    problems = []
    if missing := [c for c in expected if c not in current]:
        problems.append(f"model expects features absent from the feature table: {missing}")
    if extra := [c for c in current if c not in expected]:
        problems.append(f"feature table has features the model does not take: {extra}")
    if not problems and expected != current:
        problems.append("feature order differs between model and feature table")
    return problems


def evaluate_challenger(
    settings: Settings, config: DatasetConfig, run_id: str, run: RunInfo
) -> GateDecision:
    """Score the challenger and the champion on the challenger's holdout, apply the gate
    policy, and record the decision in MLflow and the approval log."""
    policy = load_policy(config.gate_policy)
    with tempfile.TemporaryDirectory() as tmp:
        holdout = pd.read_parquet(tracking.download(settings, run_id, HOLDOUT, Path(tmp)))
    categories = load_categories(settings, run_id)
    challenger = _booster(settings, run_id)
    matrix = encode(config, holdout, categories).to_numpy()
    champion = resolve_alias(settings, config.model.name, registry.CHAMPION)
    champion_prob = None
    if champion is not None:
        champion_matrix = encode(
            config, holdout, load_categories(settings, champion.run_id)
        ).to_numpy()
        holdout[CHAMPION_PREDICTION] = _booster(settings, champion.run_id).predict(champion_matrix)
        champion_prob = CHAMPION_PREDICTION
    decision = evaluate_gate(
        policy,
        holdout=holdout,
        label=config.label.column,
        challenger_prob=PREDICTION,
        champion_prob=champion_prob,
        champion_version=champion and champion.version,
        slices=config.slices,
        latency_ms_per_10k=measure_latency_ms_per_10k(challenger.predict, matrix),
        schema_problems=schema_problems(settings, config, run_id),
    )
    mlflow_client = tracking.client(settings)
    mlflow_client.log_text(run_id, decision.to_json(), GATE_DECISION)
    mlflow_client.set_tag(run_id, TAG_GATE, "passed" if decision.passed else "failed")
    _append_approval(settings, config, run_id, decision, run)
    return decision


def _append_approval(
    settings: Settings, config: DatasetConfig, run_id: str, decision: GateDecision, run: RunInfo
) -> None:
    row = {
        "model_name": config.model.name,
        "mlflow_run_id": run_id,
        "decision": "passed" if decision.passed else "failed",
        "champion_version": decision.champion_version or "",
        "checks": json.dumps([c.__dict__ for c in decision.checks], default=str),
        "note": decision.note,
        "dag_id": run.dag_id,
        "dag_run_id": run.run_id,
        "recorded_at": dt.datetime.now(dt.UTC),
    }
    delta_tables.append(settings.table_uri(APPROVAL_LOG), pa.Table.from_pylist([row]))
