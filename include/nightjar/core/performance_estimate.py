"""Performance estimated before labels arrive: confidence-based performance estimation.

A model whose probabilities are calibrated says, row by row, how likely each positive
is. Summed over a night, those probabilities are the expected confusion matrix at every
threshold, and so an expected ROC curve and its area, with no label at all. This is
NannyML's CBPE (confidence-based performance estimation; see
https://nannyml.readthedocs.io/en/stable/how_it_works/performance_estimation.html):
it detects the performance a covariate shift costs (rows moving to where the model is
unsure), not a change of the relation between features and label, which only realised
performance can show.

The calibration map is fitted once per model version on its holdout (isotonic
regression, as NannyML does) and stored with the drift reference; applying it is a
piecewise-linear interpolation, so nothing here needs a fitted estimator at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Calibration:
    """An increasing map from the model's probabilities to observed positive rates."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        """The calibrated probabilities (the identity when nothing was fitted)."""
        p = np.asarray(probabilities, dtype=float)
        if len(self.x) < 2:
            return np.clip(p, 0.0, 1.0)
        return np.interp(p, self.x, self.y)

    def as_dict(self) -> dict:
        """JSON-ready form, stored with the model's drift reference."""
        return {"x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        """The calibration ``as_dict`` stored."""
        return cls(tuple(data["x"]), tuple(data["y"]))


IDENTITY = Calibration((), ())


def fit_calibration(probabilities: np.ndarray, labels: np.ndarray) -> Calibration:
    """Isotonic regression of the labels on the probabilities (a holdout's), as its
    breakpoints; the identity when the holdout has a single class."""
    from sklearn.isotonic import IsotonicRegression

    p = np.asarray(probabilities, dtype=float)
    y = np.asarray(labels, dtype=float)
    keep = np.isfinite(p) & np.isfinite(y)
    p, y = p[keep], y[keep]
    if len(np.unique(y)) < 2:
        return IDENTITY
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
    return Calibration(
        tuple(float(v) for v in model.X_thresholds_), tuple(float(v) for v in model.y_thresholds_)
    )


def estimated_roc_auc(probabilities: np.ndarray, calibration: Calibration) -> float | None:
    """The ROC AUC a night's scores are expected to reach, from its probabilities alone.

    Rows are ranked by the model's own probability; each row counts as ``c`` of a
    positive and ``1 - c`` of a negative, ``c`` its calibrated probability. Tied scores
    form one step of the curve, as they do for a realised ROC curve. None when the night
    has no rows, or the calibrated probabilities are all 0 or all 1.
    """
    scores = np.asarray(probabilities, dtype=float)
    scores = scores[np.isfinite(scores)]
    if len(scores) == 0:
        return None
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    positive = calibration.apply(ranked)
    true_positives = np.cumsum(positive)
    false_positives = np.cumsum(1.0 - positive)
    last_of_each_score = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]
    tp = np.r_[0.0, true_positives[last_of_each_score]]
    fp = np.r_[0.0, false_positives[last_of_each_score]]
    if tp[-1] <= 0 or fp[-1] <= 0:
        return None
    return float(np.trapezoid(tp / tp[-1], fp / fp[-1]))
