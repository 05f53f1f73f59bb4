"""The drift reference of a champion: its training data as bins and counts per day.

Built once per model version from the training features and the holdout predictions, and
kept with the model in MLflow, so every night's monitoring reads it instead of the
training data. Every feature is binned (excluded ones too: the config may change later).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.drift_stats import (
    ColumnBins,
    NightCounts,
    fit_bins,
)
from nightjar.core.errors import MissingInputError
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import HOLDOUT, PROBABILITY, TAG_TRAINING_KEY
from nightjar.features.definitions import FEATURE_DATE
from nightjar.io import delta_tables, tracking
from nightjar.scoring.scorer import ModelRef
from nightjar.training.trainer import PREDICTION, TRAINING_RUN

log = logging.getLogger(__name__)
UNDATED = dt.date(1970, 1, 1)
"""The one "day" of reference rows that carry no date (a holdout without its dates)."""
_REFERENCE_ARTIFACT = "drift/reference_v2.json"
_REFERENCE_SAMPLE = "drift/reference_sample.parquet"


@dataclass(frozen=True)
class Reference:
    """The champion's training data as drift sees it: each column's bins, rows per bin for
    each training day (each holdout day for the prediction), and a sample for the report."""

    bins: dict[str, ColumnBins]
    daily: NightCounts
    sample: pd.DataFrame

    def to_json(self) -> dict:
        """JSON-ready form, to log with the model in MLflow."""
        return {
            "bins": {name: b.as_dict() for name, b in self.bins.items()},
            "daily": {
                day.isoformat(): {name: c.tolist() for name, c in columns.items()}
                for day, columns in self.daily.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict, sample: pd.DataFrame) -> Reference:
        """The reference ``to_json`` stored."""
        return cls(
            {name: ColumnBins.from_dict(b) for name, b in data["bins"].items()},
            {
                dt.date.fromisoformat(day): {name: np.asarray(c) for name, c in columns.items()}
                for day, columns in data["daily"].items()
            },
            sample,
        )


def _daily_counts(
    frame: pd.DataFrame, bins: dict[str, ColumnBins], columns: Iterable[str]
) -> NightCounts:
    """Rows per bin of each of ``columns``, per ``FEATURE_DATE`` (or all under UNDATED)."""
    if FEATURE_DATE not in frame.columns:
        return {UNDATED: {name: bins[name].count(frame[name]) for name in columns}}
    days = pd.to_datetime(frame[FEATURE_DATE]).dt.date
    return {
        day: {name: bins[name].count(group[name]) for name in columns}
        for day, group in frame.groupby(days, sort=True)
    }


def build_reference(
    config: DatasetConfig, training: pd.DataFrame, holdout: pd.DataFrame
) -> Reference:
    """Bins fitted on the training features and the holdout predictions, and their counts
    per day. Every feature is binned (excluded ones too: the config may change later)."""
    bins = {
        name: fit_bins(
            training[name], categorical=name in config.categorical, bins=config.drift.bins
        )
        for name in config.feature_names
    }
    bins[PROBABILITY] = fit_bins(holdout[PREDICTION], categorical=False, bins=config.drift.bins)
    daily = _daily_counts(training, bins, config.feature_names)
    holdout = holdout.rename(columns={PREDICTION: PROBABILITY})
    for day, columns in _daily_counts(holdout, bins, [PROBABILITY]).items():
        daily.setdefault(day, {}).update(columns)
    return Reference(bins, daily, _sample(config, training))


def _sample(config: DatasetConfig, frame: pd.DataFrame) -> pd.DataFrame:
    rows = min(config.drift.report_sample_rows, len(frame))
    return frame.sample(rows, random_state=0)[config.feature_names]


def load_or_build_reference(
    settings: Settings, config: DatasetConfig, model: ModelRef
) -> Reference:
    """The reference for a model version: read from its MLflow run, else built once there."""
    from mlflow.exceptions import MlflowException

    try:
        data = json.loads(tracking.read_text(settings, model.run_id, _REFERENCE_ARTIFACT))
        with tempfile.TemporaryDirectory() as tmp:
            sample = pd.read_parquet(
                tracking.download(settings, model.run_id, _REFERENCE_SAMPLE, Path(tmp))
            )
        return Reference.from_json(data, sample)
    except (MlflowException, OSError):  # not cached yet
        log.info("no cached drift reference for %s v%s; building it", model.name, model.version)
    training, holdout = reference_frame(settings, config, model)
    built = build_reference(config, training, holdout)
    mlflow_client = tracking.client(settings)
    with tempfile.TemporaryDirectory() as tmp:
        mlflow_client.log_dict(model.run_id, built.to_json(), _REFERENCE_ARTIFACT)
        path = Path(tmp) / Path(_REFERENCE_SAMPLE).name
        built.sample.to_parquet(path, index=False)
        mlflow_client.log_artifact(
            model.run_id, str(path), Path(_REFERENCE_SAMPLE).parent.as_posix()
        )
    return built


def reference_frame(
    settings: Settings, config: DatasetConfig, model: ModelRef
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The champion's training features, and its holdout with its predictions."""
    run = tracking.client(settings).get_run(model.run_id)
    training_key = run.data.tags[TAG_TRAINING_KEY]
    table = delta_tables.read(
        settings.table_uri(config.table_name("training_features")),
        filters=[(TRAINING_RUN, "=", training_key)],
    )
    if table is None or table.num_rows == 0:
        raise MissingInputError(
            f"training features of {model.name} v{model.version} "
            f"({training_key}) are gone; cannot build the drift reference"
        )
    with tempfile.TemporaryDirectory() as tmp:
        holdout = pd.read_parquet(tracking.download(settings, model.run_id, HOLDOUT, Path(tmp)))
    return table.to_pandas(), holdout
