"""At large n, drift means the distribution moved, not that the samples differ.

A significance test flags nearly every column once n is in the millions: any difference,
however small, becomes significant. Nightjar's decision, PSI over the reference's bins
against ``psi_threshold``, must flag nothing when the night is drawn from the same
distributions as the reference, and still flag the columns that clearly moved.
"""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy.stats import ks_2samp

from nightjar.core.drift_stats import fit_bins, psi, shares

CURRENT_ROWS, REFERENCE_ROWS = 2_000_000, 1_000_000
CATEGORIES = np.array(["a", "b", "c", "d"], dtype=object)
SHARES = np.array([0.4, 0.3, 0.2, 0.1])


def _numeric(index: int, rng: np.random.Generator, rows: int) -> np.ndarray:
    shape = index % 3
    if shape == 0:
        return rng.normal(10.0 * index, 1.0 + index, rows)
    if shape == 1:
        return rng.lognormal(0.0, 0.75, rows)
    return rng.poisson(3 + index % 4, rows).astype(float)


def _frame(config, rows: int, seed: int) -> pd.DataFrame:
    """The config's features, the same distributions whatever the seed; 5% missing where
    a feature is nullable."""
    rng = np.random.default_rng(seed)
    columns = {}
    for index, name in enumerate(config.feature_names):
        if name in config.categorical:
            columns[name] = rng.choice(CATEGORIES, rows, p=SHARES)
        else:
            values = _numeric(index, rng, rows)
            if config.features[name].nullable:
                values[rng.random(rows) < 0.05] = np.nan
            columns[name] = values
    return pd.DataFrame(columns)


@pytest.fixture(scope="module")
def stats(config) -> dict:
    """Each feature's bins, and the reference's shares in them."""
    reference = _frame(config, REFERENCE_ROWS, seed=1)
    stats = {}
    for name in config.feature_names:
        bins = fit_bins(
            reference[name], categorical=name in config.categorical, bins=config.drift.bins
        )
        stats[name] = (bins, shares(bins.count(reference[name])))
    return stats


@pytest.fixture(scope="module")
def current(config) -> pd.DataFrame:
    return _frame(config, CURRENT_ROWS, seed=2)


def _psi(config, stats: dict, current: pd.DataFrame) -> dict[str, float]:
    return {
        name: psi(expected, shares(bins.count(current[name])))
        for name, (bins, expected) in stats.items()
    }


def _drifted(config, values: dict[str, float]) -> set[str]:
    return {name for name, value in values.items() if value > config.drift.psi_threshold}


def test_same_distributions_flag_no_feature_at_large_n(config, stats, current):
    values = _psi(config, stats, current)

    assert _drifted(config, values) == set()
    assert max(values.values()) < config.drift.psi_threshold / 100  # noise, far from the line


def test_a_negligible_shift_is_significant_but_not_drift(config, stats, current):
    name = next(n for n in config.feature_names if n not in config.categorical)
    nudged = current[name] + 0.02 * current[name].std()  # a fiftieth of a standard deviation

    assert ks_2samp(nudged.dropna(), current[name].dropna()).pvalue < 1e-6  # "significant"
    assert _drifted(config, _psi(config, stats, current.assign(**{name: nudged}))) == set()


def test_clearly_shifted_columns_are_flagged(config, stats, current):
    numeric = next(n for n in config.feature_names if n not in config.categorical)
    categorical = config.categorical[0]
    shifted = current.assign(
        **{
            numeric: current[numeric] + current[numeric].std(),  # one standard deviation
            categorical: np.random.default_rng(3).choice(CATEGORIES, CURRENT_ROWS, p=SHARES[::-1]),
        }
    )

    assert _drifted(config, _psi(config, stats, shifted)) == {numeric, categorical}


def test_counts_add_up_across_batches(config, stats, current):
    """Bins are fixed by the reference, so a night's counts are the sum of its batches'
    (and a window's the sum of its nights'): no rescans."""
    batches = pa.Table.from_pandas(current, preserve_index=False).to_batches(max_chunksize=65_536)

    for name, (bins, _) in stats.items():
        batched = sum(bins.count(batch.column(name).to_pandas()) for batch in batches)
        assert batched.tolist() == bins.count(current[name]).tolist(), name
