"""Performance estimated from calibrated probabilities (CBPE) against realised roc_auc."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from nightjar.core.performance_estimate import (
    IDENTITY,
    estimated_roc_auc,
    fit_calibration,
)


def _labelled(rng, scores: np.ndarray) -> np.ndarray:
    """Labels drawn from the scores themselves: the scores are calibrated."""
    return (rng.random(len(scores)) < scores).astype(int)


@pytest.mark.parametrize("shape", [(2, 5), (1, 1), (5, 2)])
def test_calibrated_scores_estimate_the_roc_auc_their_labels_realise(shape):
    rng = np.random.default_rng(1)
    scores = rng.beta(*shape, 200_000)
    realised = roc_auc_score(_labelled(rng, scores), scores)
    assert estimated_roc_auc(scores, IDENTITY) == pytest.approx(realised, abs=0.005)


def test_a_shift_towards_uncertain_rows_lowers_the_estimate_as_it_lowers_the_realised():
    rng = np.random.default_rng(2)
    confident = rng.beta(0.5, 2.0, 100_000)
    unsure = rng.beta(8.0, 12.0, 100_000)  # everything near 0.4: little to rank
    for scores in (confident, unsure):
        realised = roc_auc_score(_labelled(rng, scores), scores)
        assert estimated_roc_auc(scores, IDENTITY) == pytest.approx(realised, abs=0.01)
    assert estimated_roc_auc(unsure, IDENTITY) < estimated_roc_auc(confident, IDENTITY) - 0.1


def test_the_calibration_fitted_on_a_holdout_corrects_overconfident_scores():
    rng = np.random.default_rng(3)
    truth = rng.beta(2, 5, 100_000)
    labels = _labelled(rng, truth)
    overconfident = truth**0.5  # the model says more than it knows
    calibration = fit_calibration(overconfident, labels)
    night = rng.beta(2, 5, 50_000)
    realised = roc_auc_score(_labelled(rng, night), night**0.5)
    assert estimated_roc_auc(night**0.5, calibration) == pytest.approx(realised, abs=0.01)
    assert abs(estimated_roc_auc(night**0.5, IDENTITY) - realised) > 0.02


def test_ties_degenerate_and_empty_nights_give_a_value_or_none_never_an_error():
    assert estimated_roc_auc(np.array([]), IDENTITY) is None
    assert estimated_roc_auc(np.zeros(10), IDENTITY) is None  # no expected positive
    assert estimated_roc_auc(np.full(10, 0.3), IDENTITY) == pytest.approx(0.5)
    assert fit_calibration(np.array([0.2, 0.4]), np.array([1, 1])) == IDENTITY
