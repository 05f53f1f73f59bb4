import numpy as np
import pandas as pd
import pytest

from nightjar.core.gate_policy import GatePolicy
from nightjar.evaluation.gate import evaluate_gate


@pytest.fixture
def holdout() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 4000
    label = rng.random(n) < 0.2
    good = np.clip(label * 0.5 + rng.random(n) * 0.5, 0, 1)
    return pd.DataFrame(
        {
            "y": label.astype(int),
            "good": good,
            "noise": rng.random(n),
            "region": rng.choice(["a", "b"], n),
        }
    )


def _policy(**overrides) -> GatePolicy:
    base = dict(
        min_primary_metric=0.7,
        max_regression_vs_champion=0.01,
        max_brier=0.3,
        max_latency_ms_per_10k=100,
        max_slice_gap=0.2,
        min_slice_rows=100,
    )
    return GatePolicy(**{**base, **overrides})


def _decide(policy, holdout, challenger="good", champion=None, latency=10.0, problems=()):
    return evaluate_gate(
        policy,
        holdout=holdout,
        label="y",
        challenger_prob=challenger,
        champion_prob=champion,
        champion_version=champion and "1",
        slices=["region"],
        latency_ms_per_10k=latency,
        schema_problems=list(problems),
    )


def _check(decision, name):
    return next(c for c in decision.checks if c.name == name)


def test_first_model_is_judged_by_absolute_checks_alone(holdout):
    decision = _decide(_policy(), holdout)
    assert decision.passed
    assert "no champion yet" in decision.note
    assert not any("champion" in c.name for c in decision.checks)


def test_primary_metric_floor(holdout):
    decision = _decide(_policy(), holdout, challenger="noise")
    assert not decision.passed and not _check(decision, "min_roc_auc").passed


def test_regression_against_champion_fails(holdout):
    decision = _decide(
        _policy(min_primary_metric=0.4), holdout, challenger="noise", champion="good"
    )
    assert not _check(decision, "roc_auc_regression_vs_champion").passed
    assert not decision.passed


def test_improvement_required(holdout):
    decision = _decide(_policy(min_improvement_vs_champion=0.01), holdout, champion="good")
    assert not _check(decision, "roc_auc_improvement_vs_champion").passed


def test_calibration_guardrail(holdout):
    decision = _decide(_policy(max_brier=0.01), holdout)
    assert not _check(decision, "max_brier").passed


def test_latency_guardrail(holdout):
    decision = _decide(_policy(), holdout, latency=500.0)
    assert not _check(decision, "max_latency_ms_per_10k").passed


def test_slice_gap_guardrail(holdout):
    skewed = holdout.copy()
    skewed.loc[skewed["region"] == "b", "good"] = skewed.loc[skewed["region"] == "b", "noise"]
    decision = _decide(_policy(min_primary_metric=0.5), skewed)
    gap = _check(decision, "max_slice_gap")
    assert not gap.passed and "region=" in gap.detail


def test_schema_incompatibility_fails(holdout):
    decision = _decide(_policy(), holdout, problems=["model expects features absent: ['x']"])
    assert not _check(decision, "schema_compatible").passed


def test_summary_is_readable(holdout):
    text = _decide(_policy(), holdout, challenger="noise").summary()
    assert text.startswith("gate FAILED") and "[FAIL] min_roc_auc" in text
