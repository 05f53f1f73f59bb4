"""Turning feature rows into the numeric matrix a model sees, the same way every time.

Categorical features become integer codes from a category list fixed at training time
and stored with the model; a category unseen in training becomes missing (NaN), which
LightGBM routes like a missing value rather than guessing. Training, evaluation, every
scoring path and the benchmarks use this one function.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nightjar.dataset_config import DatasetConfig

Categories = dict[str, list[str]]


def fit_categories(config: DatasetConfig, frame: pd.DataFrame) -> Categories:
    return {
        column: sorted(str(v) for v in frame[column].dropna().unique())
        for column in config.categorical
    }


def encode(config: DatasetConfig, frame: pd.DataFrame, categories: Categories) -> pd.DataFrame:
    """Feature columns in config order, all float64, categoricals as codes."""
    encoded = {}
    for column in config.feature_names:
        if column in categories:
            codes = pd.Categorical(frame[column], categories=categories[column]).codes
            encoded[column] = np.where(codes < 0, np.nan, codes).astype("float64")
        else:
            encoded[column] = pd.to_numeric(frame[column], errors="raise").astype("float64")
    return pd.DataFrame(encoded, index=frame.index)
