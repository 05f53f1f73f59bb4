"""Turning feature rows into the numeric matrix a model sees, the same way every time.

Categorical features become integer codes from a category list fixed at training time
and stored with the model; a category unseen in training becomes missing (NaN), which
LightGBM routes like a missing value rather than guessing. There is one encoder,
``encode_batch`` over Arrow: scoring calls it batch by batch, and ``encode`` (training,
evaluation, the benchmarks) converts its pandas frame to Arrow and calls the same
function, so training and serving cannot encode a row differently.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from nightjar.core.dataset_config import DatasetConfig

Categories = dict[str, list[str]]


def fit_categories(config: DatasetConfig, frame: pd.DataFrame) -> Categories:
    """Each categorical feature's categories seen in training, in a fixed order: the codes the
    model learned."""
    return {
        column: sorted(str(v) for v in frame[column].dropna().unique())
        for column in config.categorical
    }


def encode_batch(batch: pa.RecordBatch, features: list[str], categories: Categories) -> np.ndarray:
    """The model matrix of a batch: ``features`` in order, float64, categoricals as codes
    into ``categories`` (NaN for missing or unseen), numbers cast to float64."""
    columns = []
    for name in features:
        column = batch.column(name)
        if name in categories:
            if pa.types.is_dictionary(column.type):
                column = column.dictionary_decode()
            codes = pc.index_in(
                pc.cast(column, pa.string()), value_set=pa.array(categories[name], pa.string())
            )
            columns.append(codes.to_numpy(zero_copy_only=False).astype("float64"))
        else:
            columns.append(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False))
    return np.column_stack(columns) if columns else np.empty((batch.num_rows, 0))


def encode(config: DatasetConfig, frame: pd.DataFrame, categories: Categories) -> pd.DataFrame:
    """``encode_batch`` on a pandas frame: feature columns in config order, all float64."""
    features = config.feature_names
    batch = pa.RecordBatch.from_pandas(frame[features], preserve_index=False)
    matrix = encode_batch(batch, features, categories)
    return pd.DataFrame(matrix, columns=features, index=frame.index)
