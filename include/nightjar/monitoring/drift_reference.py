"""The monitoring reference of a model version: its training data as bins and counts per
day, and what its signals are measured against.

Built once per model version from the training features, the holdout (its predictions
and labels) and the model file, and kept with the model in MLflow, so every night's
monitoring reads it instead of the training data:

- bins and counts per training day, for drift (every feature is binned, excluded ones
  too: the config may change later);
- the calibration of its probabilities on the holdout, for performance estimated before
  labels arrive (``core.performance_estimate``), and the holdout's roc_auc it is
  compared with;
- each feature's share of the model's gain importance, so feature drift is weighted by
  what the model uses;
- the date its training data ends, so a night it was trained on is never judged new.
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

from nightjar.core.catalog import catalog_for
from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.drift_stats import (
    ColumnBins,
    NightCounts,
    fit_bins,
)
from nightjar.core.errors import MissingInputError
from nightjar.core.metrics import binary_metrics
from nightjar.core.performance_estimate import IDENTITY, Calibration, fit_calibration
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import HOLDOUT, PROBABILITY, TAG_TRAINING_KEY
from nightjar.features.definitions import FEATURE_DATE
from nightjar.io import delta_tables, tracking
from nightjar.scoring.scorer import ModelRef, load_model_text
from nightjar.training.trainer import PREDICTION, TRAINING_RUN

log = logging.getLogger(__name__)
UNDATED = dt.date(1970, 1, 1)
"""The one "day" of reference rows that carry no date (a holdout without its dates)."""
_REFERENCE_ARTIFACT = "drift/reference_v3.json"
_REFERENCE_SAMPLE = "drift/reference_sample.parquet"


@dataclass(frozen=True)
class Reference:
    """A model version as monitoring sees it: each column's bins, rows per bin for each
    training day (each holdout day for the prediction), a sample for the report, and what
    its signals are measured against."""

    bins: dict[str, ColumnBins]
    daily: NightCounts
    sample: pd.DataFrame
    calibration: Calibration = IDENTITY
    holdout_roc_auc: float | None = None  # night by night: the mean of its days' roc_auc
    importance: dict[str, float] | None = None  # each feature's share of the gain
    trained_as_of: dt.date | None = None

    def to_json(self) -> dict:
        """JSON-ready form, to log with the model in MLflow."""
        return {
            "bins": {name: b.as_dict() for name, b in self.bins.items()},
            "daily": {
                day.isoformat(): {name: c.tolist() for name, c in columns.items()}
                for day, columns in self.daily.items()
            },
            "calibration": self.calibration.as_dict(),
            "holdout_roc_auc": self.holdout_roc_auc,
            "importance": self.importance,
            "trained_as_of": self.trained_as_of and self.trained_as_of.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict, sample: pd.DataFrame) -> Reference:
        """The reference ``to_json`` stored."""
        as_of = data.get("trained_as_of")
        return cls(
            {name: ColumnBins.from_dict(b) for name, b in data["bins"].items()},
            {
                dt.date.fromisoformat(day): {name: np.asarray(c) for name, c in columns.items()}
                for day, columns in data["daily"].items()
            },
            sample,
            Calibration.from_dict(data["calibration"]),
            data.get("holdout_roc_auc"),
            data.get("importance"),
            dt.date.fromisoformat(as_of) if as_of else None,
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
    config: DatasetConfig,
    training: pd.DataFrame,
    holdout: pd.DataFrame,
    *,
    importance: dict[str, float] | None = None,
    trained_as_of: dt.date | None = None,
) -> Reference:
    """Bins fitted on the training features and the holdout predictions, and their counts
    per day; the holdout's calibration and roc_auc when it carries its labels. Every
    feature is binned (excluded ones too: the config may change later)."""
    bins = {
        name: fit_bins(
            training[name], categorical=name in config.categorical, bins=config.drift.bins
        )
        for name in config.feature_names
    }
    bins[PROBABILITY] = fit_bins(holdout[PREDICTION], categorical=False, bins=config.drift.bins)
    daily = _daily_counts(training, bins, config.feature_names)
    calibration, holdout_auc = IDENTITY, None
    if config.label.column in holdout.columns:
        labels, predictions = holdout[config.label.column], holdout[PREDICTION]
        calibration = fit_calibration(predictions.to_numpy(), labels.to_numpy())
        holdout_auc = nightly_roc_auc(holdout, config.label.column)
    holdout = holdout.rename(columns={PREDICTION: PROBABILITY})
    for day, columns in _daily_counts(holdout, bins, [PROBABILITY]).items():
        daily.setdefault(day, {}).update(columns)
    return Reference(
        bins,
        daily,
        _sample(config, training),
        calibration,
        holdout_auc,
        importance,
        trained_as_of,
    )


def nightly_roc_auc(holdout: pd.DataFrame, label: str) -> float | None:
    """The holdout's roc_auc as a night sees it: the mean over its days of each day's
    roc_auc (a pooled roc_auc also ranks rows of different days against each other,
    and is higher than any one night's when the days differ), or the pooled one for a
    holdout without dates."""
    groups = (
        [holdout] if FEATURE_DATE not in holdout else [g for _, g in holdout.groupby(FEATURE_DATE)]
    )
    values = [binary_metrics(g[label], g[PREDICTION])["roc_auc"] for g in groups]
    finite = [value for value in values if np.isfinite(value)]
    return float(np.mean(finite)) if finite else None


def gain_shares(model_text: str, feature_names: list[str]) -> dict[str, float]:
    """Each feature's share of the model's total gain (all zero for a model of no splits)."""
    import lightgbm as lgb

    booster = lgb.Booster(model_str=model_text)
    gains = dict(
        zip(booster.feature_name(), booster.feature_importance("gain").tolist(), strict=True)
    )
    total = float(sum(gains.values()))
    return {name: (float(gains.get(name, 0.0)) / total if total else 0.0) for name in feature_names}


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
    as_of = tracking.client(settings).get_run(model.run_id).data.params.get("as_of")
    try:
        importance = gain_shares(load_model_text(settings, model), config.feature_names)
    except MlflowException:
        log.warning(
            "%s v%s has no model file in its run: feature drift is not weighted by importance",
            model.name,
            model.version,
        )
        importance = None
    built = build_reference(
        config,
        training,
        holdout,
        importance=importance,
        trained_as_of=dt.date.fromisoformat(as_of) if as_of else None,
    )
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
        catalog_for(settings, config).training_features,
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
