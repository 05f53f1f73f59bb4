"""The evaluation gate: a policy file decides whether a challenger may be promoted.

Every check records its value, its threshold and whether it passed, so the decision can
be read, stored and audited. With no champion yet, only the absolute checks apply.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from nightjar.core.gate_policy import GatePolicy
from nightjar.core.metrics import binary_metrics, slice_metrics

APPROVAL_LOG = "approval_log"  # Delta table: every gate decision, passed or failed


@dataclass(frozen=True)
class Check:
    """One check of the gate: its value, its threshold and whether it passed."""

    name: str
    value: float | str | None
    threshold: float | str | None
    passed: bool
    detail: str = ""


@dataclass
class GateDecision:
    """Every check of the gate and the verdict, stored so the decision can be audited."""

    passed: bool
    checks: list[Check] = field(default_factory=list)
    champion_version: str | None = None
    note: str = ""

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)

    def to_json(self) -> str:
        """The decision as indented JSON, as MLflow stores it."""
        return json.dumps(self.as_dict(), indent=2, default=_json_number)

    def summary(self) -> str:
        """The verdict and each check on one line each, for logs and notifications."""
        lines = [
            f"gate {'PASSED' if self.passed else 'FAILED'}"
            + (f": {self.note}" if self.note else "")
        ]
        for check in self.checks:
            mark = "ok  " if check.passed else "FAIL"
            lines.append(
                f"  [{mark}] {check.name}: {_fmt(check.value)} "
                f"(threshold {_fmt(check.threshold)}) {check.detail}".rstrip()
            )
        return "\n".join(lines)


def _json_number(value):
    return None if isinstance(value, float) and math.isnan(value) else str(value)


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def largest_slice_gap(
    frame: pd.DataFrame, label: str, prob: str, slices: list[str], metric: str, min_rows: int
) -> tuple[float, str]:
    """The widest gap in ``metric`` between two slices of the same column."""
    worst, where = 0.0, "no slice large enough"
    per_slice = slice_metrics(frame, label, prob, slices)
    for column in slices:
        values = {
            key: m[metric]
            for key, m in per_slice.items()
            if key.startswith(f"{column}=") and m["rows"] >= min_rows and np.isfinite(m[metric])
        }
        if len(values) >= 2:
            gap = max(values.values()) - min(values.values())
            if gap > worst:
                worst = gap
                where = f"{max(values, key=values.get)} vs {min(values, key=values.get)}"
    return worst, where


def measure_latency_ms_per_10k(predict, matrix: np.ndarray, repeats: int = 3) -> float:
    """Best-of-N wall time to score 10k rows (tiled if the holdout is smaller)."""
    rows = np.resize(matrix, (10_000, matrix.shape[1])) if len(matrix) < 10_000 else matrix[:10_000]
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        predict(rows)
        best = min(best, (time.perf_counter() - started) * 1000)
    return best


def evaluate_gate(
    policy: GatePolicy,
    *,
    holdout: pd.DataFrame,
    label: str,
    challenger_prob: str,
    champion_prob: str | None,
    champion_version: str | None,
    slices: list[str],
    latency_ms_per_10k: float | None,
    schema_problems: list[str],
) -> GateDecision:
    """Apply every check of the policy to the challenger (and champion) on one holdout."""
    metric = policy.primary_metric
    challenger = binary_metrics(holdout[label], holdout[challenger_prob])
    checks = [
        Check(
            "schema_compatible",
            "; ".join(schema_problems) or "compatible",
            "compatible",
            not schema_problems,
        ),
        Check(
            f"min_{metric}",
            challenger[metric],
            policy.min_primary_metric,
            challenger[metric] >= policy.min_primary_metric,
        ),
    ]
    if policy.max_brier is not None:
        checks.append(
            Check(
                "max_brier",
                challenger["brier"],
                policy.max_brier,
                challenger["brier"] <= policy.max_brier,
            )
        )
    if policy.max_latency_ms_per_10k is not None and latency_ms_per_10k is not None:
        checks.append(
            Check(
                "max_latency_ms_per_10k",
                latency_ms_per_10k,
                policy.max_latency_ms_per_10k,
                latency_ms_per_10k <= policy.max_latency_ms_per_10k,
            )
        )
    if policy.max_slice_gap is not None and slices:
        gap, where = largest_slice_gap(
            holdout, label, challenger_prob, slices, metric, policy.min_slice_rows
        )
        checks.append(
            Check("max_slice_gap", gap, policy.max_slice_gap, gap <= policy.max_slice_gap, where)
        )
    note = ""
    if champion_prob is None:
        note = "no champion yet: decided by the absolute checks alone"
    else:
        champion = binary_metrics(holdout[label], holdout[champion_prob])
        delta = challenger[metric] - champion[metric]
        checks.append(
            Check(
                f"{metric}_regression_vs_champion",
                delta,
                -policy.max_regression_vs_champion,
                delta >= -policy.max_regression_vs_champion,
                f"champion v{champion_version} {champion[metric]:.4f}",
            )
        )
        checks.append(
            Check(
                f"{metric}_improvement_vs_champion",
                delta,
                policy.min_improvement_vs_champion,
                delta >= policy.min_improvement_vs_champion,
            )
        )
    return GateDecision(
        passed=all(c.passed for c in checks),
        checks=checks,
        champion_version=champion_version,
        note=note,
    )
