"""Training and scoring encode every row the same way (no training/serving skew).

Training and evaluation encode a pandas frame in one go; scoring encodes Arrow batches as
it streams them from Delta. For any frame, with missing values, unseen categories and
extreme numbers, the scoring path's matrix, batch by batch, equals the training path's,
and each code is the category's position in the list stored with the model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from nightjar.training.model_inputs import encode, encode_batch

KNOWN = ["north", "south", "west"]
CATEGORY = st.one_of(st.none(), st.sampled_from([*KNOWN, "east", "", "North"]))
NUMBER = st.one_of(
    st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**53), 2**53)
)


@given(data=st.data(), size=st.integers(0, 60), chunk=st.integers(1, 16))
def test_scoring_batches_encode_exactly_as_training(config, data, size, chunk):
    frame = pd.DataFrame(
        {
            name: pd.Series(
                data.draw(
                    st.lists(
                        CATEGORY if name in config.categorical else NUMBER,
                        min_size=size,
                        max_size=size,
                    )
                ),
                dtype="string" if name in config.categorical else "float64",
            )
            for name in config.feature_names
        }
    )
    categories = dict.fromkeys(config.categorical, KNOWN)

    training = encode(config, frame, categories).to_numpy()
    batches = pa.Table.from_pandas(frame, preserve_index=False).to_batches(max_chunksize=chunk)
    scoring = [encode_batch(b, config.feature_names, categories) for b in batches]

    width = len(config.feature_names)
    np.testing.assert_array_equal(
        training.reshape(-1, width), np.vstack([np.empty((0, width)), *scoring])
    )
    for name in config.categorical:
        column = training[:, config.feature_names.index(name)]
        expected = [
            KNOWN.index(v) if isinstance(v, str) and v in KNOWN else np.nan
            for v in frame[name].tolist()
        ]
        np.testing.assert_array_equal(column, np.asarray(expected, dtype=float))
