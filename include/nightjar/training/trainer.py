"""Deterministic LightGBM training from a pinned snapshot, tracked in MLflow with lineage.

Determinism: rows are sorted by (event time, entity), the split is by date, LightGBM
runs with ``deterministic=True``, ``force_row_wise`` and a fixed seed and thread count,
so the same lineage gives the same model file byte for byte (``model_sha256``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from nightjar.core.catalog import catalog_for
from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.errors import TrainingDataError
from nightjar.core.metrics import binary_metrics, slice_metrics
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import (
    MODEL_DIR,
    PREDICTION,
    TAG_MODEL_SHA256,
    TAG_TRAINING_KEY,
    TRAINING_RUN,
)
from nightjar.features.definitions import FEATURE_DATE, spec_hash
from nightjar.ingest.validation import PARTITION_COLUMN, validate_raw
from nightjar.io import delta_tables, raw_tables, tracking
from nightjar.io.lakefs_client import make_client
from nightjar.io.lineage import code_version, runtime_versions
from nightjar.io.snapshots import Snapshot
from nightjar.training.model_inputs import Categories, encode, fit_categories

log = logging.getLogger(__name__)
FIXED_PARAMS = {
    "objective": "binary",
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 2,
    "verbosity": -1,
}


@dataclass(frozen=True)
class TrainingResult:
    """What a training run produced: the MLflow run, the model and its lineage."""

    run_id: str
    model_uri: str
    model_id: str
    model_sha256: str
    holdout_metrics: dict[str, float]


def training_window(config: DatasetConfig, as_of: dt.date) -> tuple[dt.date, dt.date]:
    """Event dates a model trained on ``as_of`` learns from: those whose labels are due."""
    end = as_of - dt.timedelta(days=config.label.delay_days)
    return end - dt.timedelta(days=config.model.training_window_days - 1), end


def load_labels(
    settings: Settings, config: DatasetConfig, snapshot: Snapshot, start: dt.date, as_of: dt.date
) -> pd.DataFrame:
    """Labels known by the end of ``as_of``, read from the pinned commit and validated."""
    source = config.sources[config.label.source]
    table = raw_tables.read_partitions(
        make_client(settings),
        snapshot.repository,
        snapshot.commit_id,
        source.path,
        start,
        as_of,
        timezone=config.timezone,
    )
    if table is None:
        raise TrainingDataError(
            f"label source {config.label.source!r} has no partitions up to {as_of} at lakeFS "
            f"commit {snapshot.commit_id[:12]}"
        )
    labels = validate_raw(
        table.to_pandas(),
        name=config.label.source,
        source=source,
        event_time=None,
        max_quarantine_share=config.validation.max_quarantine_share,
        batch=f"..{as_of}",
        timezone=config.timezone,
    ).valid
    known_by = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    if config.label.available_at is not None:
        known_at = labels[config.label.available_at]
    else:  # no availability column: known delay_days after the batch's date
        delay = pd.Timedelta(days=config.label.delay_days)
        known_at = pd.to_datetime(labels[PARTITION_COLUMN]) + delay
    labels = labels[known_at < known_by]
    return labels[[config.entity_key, config.label.column]].drop_duplicates(config.entity_key)


def load_training_set(
    settings: Settings, config: DatasetConfig, snapshot: Snapshot, training_key: str, as_of: dt.date
) -> pd.DataFrame:
    """The training features joined with the labels that had landed by ``as_of``: no label from
    the future."""
    features = delta_tables.read(
        catalog_for(settings, config).training_features,
        filters=[(TRAINING_RUN, "=", training_key)],
    )
    if features is None or features.num_rows == 0:
        raise TrainingDataError(f"no training features for {training_key}; run the feature step")
    frame = features.to_pandas()
    labels = load_labels(settings, config, snapshot, frame[FEATURE_DATE].min(), as_of)
    joined = frame.merge(labels, on=config.entity_key, how="inner", validate="one_to_one")
    if joined.empty:
        raise TrainingDataError(
            f"none of the {len(frame)} feature rows has a label known by {as_of}; "
            f"label column {config.label.column!r} may be missing from the snapshot"
        )
    classes = joined[config.label.column].nunique()
    if classes < 2:
        raise TrainingDataError(
            f"training set of {len(joined)} rows has a single class in {config.label.column!r}"
        )
    return joined.sort_values([config.event_time, config.entity_key], ignore_index=True)


def split_by_time(
    config: DatasetConfig, frame: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Train / validation / holdout by date, holdout last, as the config says."""
    dates = sorted(frame[FEATURE_DATE].unique())
    split = config.model.split
    if len(dates) < split.validation_days + split.holdout_days + 1:
        raise TrainingDataError(
            f"{len(dates)} labelled dates cannot be split into training, "
            f"{split.validation_days} validation and {split.holdout_days} holdout days"
        )
    holdout_from = dates[-split.holdout_days]
    validation_from = dates[-split.holdout_days - split.validation_days]
    train = frame[frame[FEATURE_DATE] < validation_from]
    valid = frame[(frame[FEATURE_DATE] >= validation_from) & (frame[FEATURE_DATE] < holdout_from)]
    holdout = frame[frame[FEATURE_DATE] >= holdout_from]
    return train, valid, holdout


def lightgbm_params(config: DatasetConfig) -> dict:
    """The config's LightGBM parameters with the ones Nightjar fixes for determinism."""
    return {**config.model.params, **FIXED_PARAMS, "seed": config.model.seed}


def check_trainable(config: DatasetConfig, train: pd.DataFrame, valid: pd.DataFrame) -> None:
    """Refuse rows that cannot produce a meaningful model, naming the problem and the counts."""
    label = config.label.column
    if train.empty or valid.empty:
        empty = "training" if train.empty else "validation"
        raise TrainingDataError(
            f"empty {empty} set ({len(train)} training rows, {len(valid)} validation rows): "
            "training needs rows in both"
        )
    counts = train[label].value_counts()
    if len(counts) < 2:
        found = ", ".join(f"{value!r}: {count} rows" for value, count in counts.items())
        raise TrainingDataError(
            f"training set of {len(train)} rows has a single class in {label!r} "
            f"({found or 'no non-null labels'}); a binary model needs both classes"
        )


def fit(
    config: DatasetConfig, train: pd.DataFrame, valid: pd.DataFrame
) -> tuple[lgb.Booster, Categories]:
    """Train LightGBM with early stopping on the validation split; return the booster and the
    categories it learned."""
    check_trainable(config, train, valid)
    categories = fit_categories(config, train)
    label = config.label.column
    train_set = lgb.Dataset(
        encode(config, train, categories),
        label=train[label],
        categorical_feature=config.categorical,
        free_raw_data=False,
    )
    valid_set = lgb.Dataset(
        encode(config, valid, categories), label=valid[label], reference=train_set
    )
    booster = lgb.train(
        lightgbm_params(config),
        train_set,
        num_boost_round=config.model.num_boost_round,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(config.model.early_stopping_rounds, verbose=False)],
    )
    return booster, categories


def model_sha256(booster: lgb.Booster) -> str:
    """The model text's SHA-256, recorded so a scored row can be traced to the exact file."""
    return hashlib.sha256(booster.model_to_string().encode()).hexdigest()


def predict(
    config: DatasetConfig, booster: lgb.Booster, categories: Categories, frame: pd.DataFrame
) -> np.ndarray:
    """Probabilities for ``frame`` through the one encoder, as scoring computes them."""
    return booster.predict(encode(config, frame, categories).to_numpy())


def train_and_log(
    settings: Settings,
    config: DatasetConfig,
    snapshot: Snapshot,
    *,
    training_key: str,
    as_of: dt.date,
    intent: str,
    airflow_run: dict[str, str],
) -> TrainingResult:
    """Train on the snapshot and log model, metrics and the full lineage set to MLflow."""
    frame = load_training_set(settings, config, snapshot, training_key, as_of)
    train, valid, holdout = split_by_time(config, frame)
    booster, categories = fit(config, train, valid)
    return log_training_run(
        settings,
        config,
        snapshot,
        booster,
        categories,
        (train, valid, holdout),
        training_key=training_key,
        as_of=as_of,
        intent=intent,
        airflow_run=airflow_run,
    )


def log_training_run(
    settings: Settings,
    config: DatasetConfig,
    snapshot: Snapshot,
    booster: lgb.Booster,
    categories: Categories,
    splits: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
    *,
    training_key: str,
    as_of: dt.date,
    intent: str,
    airflow_run: dict[str, str],
) -> TrainingResult:
    """Score the holdout, then log model, metrics and the full lineage set to MLflow.

    ``splits`` is (train, validation, holdout) as ``split_by_time`` returns it.
    """
    import mlflow
    from mlflow.models import infer_signature

    train, valid, holdout = splits
    dates = pd.concat([part[FEATURE_DATE] for part in splits])
    holdout = holdout.assign(**{PREDICTION: predict(config, booster, categories, holdout)})
    metrics = binary_metrics(holdout[config.label.column], holdout[PREDICTION])
    sha = model_sha256(booster)
    experiment_id = tracking.ensure_experiment(settings, config.name)
    spec = spec_hash(config)
    lineage_tags = {
        "nightjar.intent": intent,
        "nightjar.git_commit": code_version(),
        "nightjar.lakefs_repository": snapshot.repository,
        "nightjar.lakefs_commit": snapshot.commit_id,
        "nightjar.lakefs_branch": snapshot.branch,
        "nightjar.feature_spec": spec,
        "nightjar.dataset": config.name,
        TAG_MODEL_SHA256: sha,
        "nightjar.seed": str(config.model.seed),
        TAG_TRAINING_KEY: training_key,
        "nightjar.runtime_image": runtime_versions()["image"],
        **{f"airflow.{k}": v for k, v in airflow_run.items()},
    }
    with (
        tracking.fluent(settings),
        mlflow.start_run(
            experiment_id=experiment_id, run_name=f"train-{training_key}", tags=lineage_tags
        ) as run,
    ):
        mlflow.log_params(
            {
                **lightgbm_params(config),
                "num_boost_round": config.model.num_boost_round,
                "best_iteration": booster.best_iteration,
                "threshold": config.model.threshold,
            }
        )
        mlflow.log_params(
            {
                "rows_train": len(train),
                "rows_validation": len(valid),
                "rows_holdout": len(holdout),
                "time_range": f"{dates.min()}..{dates.max()}",
                "as_of": as_of.isoformat(),
            }
        )
        mlflow.log_metrics({f"holdout_{k}": v for k, v in metrics.items() if np.isfinite(v)})
        for name, values in slice_metrics(
            holdout, config.label.column, PREDICTION, config.slices
        ).items():
            mlflow.log_metrics(
                {
                    f"slice.{name.replace('=', '.')}.{k}": v
                    for k, v in values.items()
                    if np.isfinite(v) and k in ("roc_auc", "rows", "positive_rate")
                }
            )
        mlflow.log_dict(runtime_versions(), "lineage/runtime.json")
        mlflow.log_dict(categories, "model_inputs/categories.json")
        mlflow.log_dict(config.model_dump(mode="json"), "lineage/dataset_config.json")
        with tempfile.TemporaryDirectory() as tmp:
            holdout_path = Path(tmp) / "holdout.parquet"
            holdout.to_parquet(holdout_path, index=False)
            mlflow.log_artifact(str(holdout_path), "evaluation")
            model_path = Path(tmp) / "model.txt"
            booster.save_model(str(model_path))
            mlflow.log_artifact(str(model_path), MODEL_DIR)
        example = encode(config, holdout.head(5), categories)
        info = mlflow.lightgbm.log_model(
            booster,
            name="model",
            signature=infer_signature(example, holdout[PREDICTION].head(5)),
            input_example=example,
            params={"feature_spec": spec},
            tags={TAG_MODEL_SHA256: sha},
            pip_requirements=[f"lightgbm=={lgb.__version__}"],
        )
        log.info(
            "trained %s on %d rows (commit %s): holdout roc_auc %.4f, model sha256 %s",
            config.name,
            len(train),
            snapshot.commit_id[:12],
            metrics["roc_auc"],
            sha[:12],
        )
        return TrainingResult(
            run_id=run.info.run_id,
            model_uri=info.model_uri,
            model_id=info.model_id,
            model_sha256=sha,
            holdout_metrics=metrics,
        )


def load_categories(settings: Settings, run_id: str) -> Categories:
    """The categories a training run stored with its model."""
    return json.loads(tracking.read_text(settings, run_id, "model_inputs/categories.json"))
