"""Per-night drift counts: rows per bin of each column, counted once per champion version.

A night is read one Arrow batch at a time, so memory does not grow with its rows, and its
counts are stored in ``drift_counts_<dataset>``; a window or a reference span of scored
nights is then a sum of stored counts, with no rescan.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
from pyarrow.parquet import filters_to_expression

from nightjar.core.catalog import catalog_for
from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.drift_stats import (
    ColumnBins,
    NightCounts,
)
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import PROBABILITY
from nightjar.features.definitions import FEATURE_DATE
from nightjar.io import delta_tables
from nightjar.scoring.scorer import SCORE_DATE, ModelRef

log = logging.getLogger(__name__)


def _partition(uri: str, column: str, value: dt.date) -> ds.Dataset | None:
    """The rows of one partition of a Delta table, as a lazily read dataset."""
    table = delta_tables.open_table(uri)
    if table is None:
        return None
    return table.to_pyarrow_dataset().filter(filters_to_expression([(column, "=", value)]))


def count_night(
    settings: Settings,
    config: DatasetConfig,
    model: ModelRef,
    bins: dict[str, ColumnBins],
    night: dt.date,
    *,
    sample_rows: int = 0,
) -> tuple[dict[str, np.ndarray], pd.DataFrame | None]:
    """One pass over a night's features, one Arrow batch at a time: rows per bin of each
    feature, and of the predictions the champion itself made that night; and, when
    ``sample_rows``, a seeded sample of the night's features for the report."""
    features = _partition(catalog_for(settings, config).features, FEATURE_DATE, night)
    rows = features.count_rows() if features is not None else 0
    if rows == 0:
        return {}, None
    names = config.feature_names
    counts = {name: np.zeros(bins[name].size) for name in names}
    drawn = np.random.RandomState(0).choice(rows, size=min(sample_rows, rows), replace=False)
    wanted, kept, offset = np.sort(drawn), [], 0
    for batch in features.to_batches(columns=names, fragment_readahead=1):
        frame = batch.to_pandas()
        for name in names:
            counts[name] += bins[name].count(frame[name])
        low, high = np.searchsorted(wanted, [offset, offset + batch.num_rows])
        kept.append(batch.take(pa.array(wanted[low:high] - offset)))
        offset += batch.num_rows
    scores = delta_tables.read(
        catalog_for(settings, config).scores,
        filters=[(SCORE_DATE, "=", night), ("model_version", "=", model.version)],
        columns=[PROBABILITY],
    )
    if scores is not None and scores.num_rows:
        counts[PROBABILITY] = bins[PROBABILITY].count(scores.column(PROBABILITY).to_pandas())
    sample = None
    if sample_rows:
        schema = pa.schema([features.schema.field(name) for name in names])
        taken = pa.Table.from_batches(kept, schema=schema)
        sample = taken.to_pandas().iloc[np.searchsorted(wanted, drawn)].set_axis(drawn)
    return counts, sample


def store_counts(
    settings: Settings, config: DatasetConfig, model: ModelRef, night: dt.date, counts: dict
) -> None:
    """Replace a night's counts under this model version in ``drift_counts_*`` (another
    version's counts of the same night stay)."""
    rows = [
        {SCORE_DATE: night, "model_version": model.version, "column": name, "counts": c.tolist()}
        for name, c in counts.items()
    ]
    delta_tables.replace_date_range(
        catalog_for(settings, config).drift_counts,
        pa.Table.from_pylist(
            rows,
            schema=pa.schema(
                [
                    (SCORE_DATE, pa.date32()),
                    ("model_version", pa.string()),
                    ("column", pa.string()),
                    ("counts", pa.list_(pa.float64())),
                ]
            ),
        ),
        partition_column=SCORE_DATE,
        start=night,
        end=night,
        only_where={"model_version": model.version},
    )


def night_counts(
    settings: Settings,
    config: DatasetConfig,
    model: ModelRef,
    bins: dict[str, ColumnBins],
    nights: Iterable[dt.date],
) -> NightCounts:
    """Counts of the scored ``nights`` under this model version's bins: stored ones, else
    counted now and stored (once per night and version). Unscored nights are absent."""
    nights = sorted(set(nights) & _scored_nights(settings, config))
    if not nights:
        return {}
    stored = delta_tables.read(
        catalog_for(settings, config).drift_counts,
        filters=[(SCORE_DATE, "in", nights), ("model_version", "=", model.version)],
    )
    found: NightCounts = {}
    for row in stored.to_pylist() if stored is not None else []:
        found.setdefault(row[SCORE_DATE], {})[row["column"]] = np.asarray(row["counts"])
    for night in nights:
        if night in found and set(config.feature_names) <= set(found[night]):
            continue
        found[night], _ = count_night(settings, config, model, bins, night)
        if found[night]:
            store_counts(settings, config, model, night, found[night])
    return {night: counts for night, counts in found.items() if counts}


def _scored_nights(settings: Settings, config: DatasetConfig) -> set[dt.date]:
    return delta_tables.partition_dates(catalog_for(settings, config).features, FEATURE_DATE)
