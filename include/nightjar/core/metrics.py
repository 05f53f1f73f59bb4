"""Classification metrics for evaluation, gates and delayed-label monitoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score


def expected_calibration_error(y_true: np.ndarray, y_prob: np.ndarray, bins: int = 10) -> float:
    """Mean gap between predicted and observed rates over equal-width probability bins,
    weighted by rows: how far probabilities can be taken at face value."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(y_prob, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            error += mask.mean() * abs(y_prob[mask].mean() - y_true[mask].mean())
    return float(error)


def binary_metrics(y_true, y_prob) -> dict[str, float]:
    """Metrics for one set of outcomes; AUCs are NaN when only one class is present."""
    y_true = np.asarray(y_true, dtype=float)
    y_prob = np.asarray(y_prob, dtype=float)
    both_classes = len(np.unique(y_true)) == 2
    return {
        "rows": float(len(y_true)),
        "positive_rate": float(y_true.mean()) if len(y_true) else float("nan"),
        "roc_auc": float(roc_auc_score(y_true, y_prob)) if both_classes else float("nan"),
        "pr_auc": float(average_precision_score(y_true, y_prob)) if both_classes else float("nan"),
        "brier": float(brier_score_loss(y_true, y_prob)) if len(y_true) else float("nan"),
        "log_loss": float(log_loss(y_true, y_prob, labels=[0, 1])) if len(y_true) else float("nan"),
        "ece": expected_calibration_error(y_true, y_prob) if len(y_true) else float("nan"),
    }


def slice_metrics(
    frame: pd.DataFrame, label: str, prob: str, slices: list[str]
) -> dict[str, dict[str, float]]:
    """``{"region=west": {...metrics}}`` for every value of every slice column."""
    result = {}
    for column in slices:
        for value, group in frame.groupby(column, dropna=False, observed=True):
            result[f"{column}={value}"] = binary_metrics(group[label], group[prob])
    return result
