"""Training refuses rows that cannot make a meaningful model, and says why."""

import numpy as np
import pandas as pd
import pytest

from nightjar.core.errors import TrainingDataError
from nightjar.training.trainer import fit


def _rows(config, labels) -> pd.DataFrame:
    """Feature rows in the config's columns, with the given labels."""
    rng = np.random.default_rng(0)
    n = len(labels)
    frame = {
        name: rng.choice(["a", "b", "c"], n) if name in config.categorical else rng.random(n) * 50
        for name in config.feature_names
    }
    frame[config.label.column] = np.asarray(labels, dtype=int)
    return pd.DataFrame(frame)


@pytest.fixture
def valid(config) -> pd.DataFrame:
    return _rows(config, np.arange(200) % 2)


def test_an_empty_training_set_is_refused(config, valid):
    with pytest.raises(TrainingDataError, match=r"empty training set \(0 training rows, 200 valid"):
        fit(config, _rows(config, []), valid)


@pytest.mark.parametrize("label", [0, 1])
def test_a_single_class_training_set_is_refused(config, valid, label):
    with pytest.raises(TrainingDataError) as raised:
        fit(config, _rows(config, [label] * 500), valid)
    message = str(raised.value)
    assert "500 rows has a single class" in message
    assert repr(config.label.column) in message
    assert f"{label}: 500 rows" in message


def test_both_classes_train(config, valid):
    booster, categories = fit(config, _rows(config, np.arange(500) % 2), valid)
    assert booster.num_trees() > 0
    assert set(categories) == set(config.categorical)
