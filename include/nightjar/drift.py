"""Drift of one scored date against the champion's training data.

Decisions use the Population Stability Index over fixed bins: quantile bins of the
reference for numeric features, the categories themselves for categorical ones, and
the predicted probability as one more column. PSI measures how far the distribution
moved, not how sure we are that it moved at all, so unlike a p-value it does not flag
every column once n is large. Reference statistics are computed once per model version
and kept with the model in MLflow. A night is read once, one Arrow batch at a time, so
memory does not grow with its rows. Evidently renders the human-readable report from a
sample; the decision never depends on the sample.
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
import pyarrow as pa
import pyarrow.dataset as ds
from pyarrow.parquet import filters_to_expression

from nightjar import delta_tables, tracking
from nightjar.dataset_config import DatasetConfig
from nightjar.errors import MissingInputError
from nightjar.features import FEATURE_DATE
from nightjar.scoring import SCORE_DATE, ModelRef
from nightjar.settings import Settings
from nightjar.training import PREDICTION, TRAINING_RUN

log = logging.getLogger(__name__)
PROBABILITY = "probability"
_EPSILON = 1e-4
_REFERENCE_ARTIFACT = "drift/reference_stats.json"
_REFERENCE_SAMPLE = "drift/reference_sample.parquet"


@dataclass(frozen=True)
class DriftSummary:
    score_date: dt.date
    features: int
    drifted: list[str]
    prediction_psi: float
    breached: bool
    report_html: str


def _numeric_stats(values: pd.Series, bins: int) -> dict:
    clean = values.dropna().to_numpy(dtype=float)
    edges = np.unique(np.quantile(clean, np.linspace(0, 1, bins + 1)[1:-1])) if len(clean) else []
    return {
        "kind": "numeric",
        "edges": [float(e) for e in edges],
        "proportions": _numeric_proportions(values, list(edges)),
    }


def _numeric_counts(values: pd.Series, edges: list[float]) -> np.ndarray:
    """Rows per bin, with a last bucket for missing values."""
    array = values.to_numpy(dtype=float)
    missing = np.isnan(array)
    counts = np.bincount(
        np.searchsorted(edges, array[~missing], side="right"), minlength=len(edges) + 1
    ).astype(float)
    return np.append(counts, missing.sum())


def _numeric_proportions(values: pd.Series, edges: list[float]) -> list[float]:
    """Shares per bin, with a last bucket for missing values."""
    return (_numeric_counts(values, edges) / max(len(values), 1)).tolist()


def _categorical_counts(values: pd.Series, categories: list[str]) -> np.ndarray:
    """Rows per known category, plus one bucket for unseen or missing values."""
    counts = values.astype("string").value_counts(dropna=False)
    known = [float(counts.get(c, 0)) for c in categories]
    return np.array([*known, float(len(values)) - sum(known)])


def _categorical_proportions(values: pd.Series, categories: list[str]) -> list[float]:
    """Shares per known category, plus one bucket for unseen or missing values."""
    return (_categorical_counts(values, categories) / max(len(values), 1)).tolist()


def reference_stats(
    config: DatasetConfig, reference: pd.DataFrame, reference_predictions: pd.Series
) -> dict:
    stats = {}
    for name in config.feature_names:
        if name in config.categorical:
            categories = sorted(reference[name].dropna().astype(str).unique())
            stats[name] = {
                "kind": "categorical",
                "categories": categories,
                "proportions": _categorical_proportions(reference[name], categories),
            }
        else:
            stats[name] = _numeric_stats(reference[name], config.drift.bins)
    stats[PROBABILITY] = _numeric_stats(reference_predictions, config.drift.bins)
    return stats


def psi(expected: list[float], actual: list[float]) -> float:
    e = np.clip(np.asarray(expected, float), _EPSILON, None)
    a = np.clip(np.asarray(actual, float), _EPSILON, None)
    return float(np.sum((a - e) * np.log(a / e)))


def _counts(stat: dict, values: pd.Series) -> np.ndarray:
    if stat["kind"] == "categorical":
        return _categorical_counts(values, stat["categories"])
    return _numeric_counts(values, stat["edges"])


def current_proportions(stat: dict, values: pd.Series) -> list[float]:
    return (_counts(stat, values) / max(len(values), 1)).tolist()


def batched_proportions(
    stats: dict, batches: Iterable[pa.RecordBatch], columns: list[str]
) -> dict[str, list[float]]:
    """``current_proportions`` of each of ``columns``, read one Arrow batch at a time.

    The bins are fixed by the reference, so counts add up across batches: the result is
    exactly that of ``current_proportions`` on the whole column, while memory holds one
    batch, not the night.
    """
    counts = {name: np.zeros(len(stats[name]["proportions"])) for name in columns}
    rows = 0
    for batch in batches:
        rows += batch.num_rows
        for name in columns:
            counts[name] += _counts(stats[name], batch.column(name).to_pandas())
    return {name: (c / max(rows, 1)).tolist() for name, c in counts.items()}


@dataclass(frozen=True)
class Reference:
    """What drift compares against: full-data statistics, and a sample for the report."""

    stats: dict
    sample: pd.DataFrame


def _sample(config: DatasetConfig, frame: pd.DataFrame) -> pd.DataFrame:
    rows = min(config.drift.report_sample_rows, len(frame))
    return frame.sample(rows, random_state=0)[config.feature_names]


def _scan_partition(
    config: DatasetConfig, stats: dict, partition: ds.Dataset, rows: int
) -> tuple[dict[str, list[float]], pd.DataFrame]:
    """One pass over a night, holding one Arrow batch at a time: ``batched_proportions`` of
    the features in ``stats``, and the report's sample, the same rows in the same order
    as ``_sample`` on the whole frame."""
    names = [name for name in stats if name != PROBABILITY]
    size = min(config.drift.report_sample_rows, rows)
    drawn = np.random.RandomState(0).choice(rows, size=size, replace=False)  # as _sample draws
    wanted, kept = np.sort(drawn), []

    def batches():
        offset = 0
        columns = list(dict.fromkeys([*names, *config.feature_names]))
        for batch in partition.to_batches(columns=columns, fragment_readahead=1):
            low, high = np.searchsorted(wanted, [offset, offset + batch.num_rows])
            kept.append(batch.take(pa.array(wanted[low:high] - offset)))
            offset += batch.num_rows
            yield batch

    shares = batched_proportions(stats, batches(), names)
    sample = pa.Table.from_batches(kept).to_pandas().iloc[np.searchsorted(wanted, drawn)]
    return shares, sample[config.feature_names].set_axis(drawn)


def _partition(uri: str, column: str, value: dt.date) -> ds.Dataset | None:
    """The rows of one partition of a Delta table, as a lazily read dataset."""
    table = delta_tables.open_table(uri)
    if table is None:
        return None
    return table.to_pyarrow_dataset().filter(filters_to_expression([(column, "=", value)]))


def load_or_build_reference(
    settings: Settings, config: DatasetConfig, model: ModelRef
) -> Reference:
    """The reference for a model version: read from its MLflow run, else built once there."""
    from mlflow.exceptions import MlflowException

    try:
        stats = json.loads(tracking.read_text(settings, model.run_id, _REFERENCE_ARTIFACT))
        with tempfile.TemporaryDirectory() as tmp:
            sample = pd.read_parquet(
                tracking.download(settings, model.run_id, _REFERENCE_SAMPLE, Path(tmp))
            )
        return Reference(stats, sample)
    except (MlflowException, OSError):  # not cached yet
        log.info("no cached drift reference for %s v%s; building it", model.name, model.version)
    reference, predictions = reference_frame(settings, config, model)
    built = Reference(reference_stats(config, reference, predictions), _sample(config, reference))
    mlflow_client = tracking.client(settings)
    with tempfile.TemporaryDirectory() as tmp:
        mlflow_client.log_dict(model.run_id, built.stats, _REFERENCE_ARTIFACT)
        path = Path(tmp) / Path(_REFERENCE_SAMPLE).name
        built.sample.to_parquet(path, index=False)
        mlflow_client.log_artifact(
            model.run_id, str(path), Path(_REFERENCE_SAMPLE).parent.as_posix()
        )
    return built


def reference_frame(
    settings: Settings, config: DatasetConfig, model: ModelRef
) -> tuple[pd.DataFrame, pd.Series]:
    """The champion's training features, and its predictions on its own holdout."""
    run = tracking.client(settings).get_run(model.run_id)
    training_key = run.data.tags["nightjar.training_key"]
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
        holdout = pd.read_parquet(
            tracking.download(settings, model.run_id, "evaluation/holdout.parquet", Path(tmp))
        )
    return table.to_pandas(), holdout[PREDICTION]


def measure_drift(
    settings: Settings,
    config: DatasetConfig,
    model: ModelRef,
    score_date: dt.date,
    reports_dir: Path,
) -> DriftSummary:
    """Compute, store and report drift for one scored date."""
    day = score_date.isoformat()
    features_uri = settings.table_uri(config.table_name("features"))
    features = _partition(features_uri, FEATURE_DATE, score_date)
    scores = delta_tables.read(
        settings.table_uri(config.table_name("scores")),
        filters=[(SCORE_DATE, "=", score_date)],
        columns=[PROBABILITY],
    )
    feature_rows = features.count_rows() if features is not None else 0
    if scores is None or feature_rows == 0:
        raise MissingInputError(f"no features or scores for {day}; score the date first")
    reference = load_or_build_reference(settings, config, model)
    shares, current_sample = _scan_partition(config, reference.stats, features, feature_rows)
    probabilities = scores.column(PROBABILITY).to_pandas()
    shares[PROBABILITY] = current_proportions(reference.stats[PROBABILITY], probabilities)
    rows = []
    for name, stat in reference.stats.items():
        value = psi(stat["proportions"], shares[name])
        rows.append(
            {
                SCORE_DATE: score_date,
                "feature": name,
                "statistic": "psi",
                "value": value,
                "threshold": config.drift.psi_threshold,
                "drifted": value > config.drift.psi_threshold,
                "model_name": model.name,
                "model_version": model.version,
                "rows_current": len(probabilities) if name == PROBABILITY else feature_rows,
            }
        )
    metrics = pd.DataFrame(rows)
    delta_tables.replace_partition(
        settings.table_uri(config.table_name("drift_metrics")),
        pa.Table.from_pandas(metrics, preserve_index=False),
        partition_column=SCORE_DATE,
        value=score_date,
    )
    features_only = metrics[metrics["feature"] != PROBABILITY]
    drifted = features_only.loc[features_only["drifted"], "feature"].tolist()
    prediction_psi = float(metrics.loc[metrics["feature"] == PROBABILITY, "value"].iloc[0])
    share = len(drifted) / max(len(features_only), 1)
    breached = share > config.drift.max_drifted_share or prediction_psi > config.drift.psi_threshold
    html = render_report(
        settings, config, model, current_sample, reference.sample, score_date, reports_dir
    )
    log.info(
        "drift %s: %d/%d features drifted (%s), prediction PSI %.3f, breached=%s",
        day,
        len(drifted),
        len(features_only),
        ", ".join(drifted) or "none",
        prediction_psi,
        breached,
    )
    return DriftSummary(score_date, len(features_only), drifted, prediction_psi, breached, html)


def render_report(
    settings: Settings,
    config: DatasetConfig,
    model: ModelRef,
    current_sample: pd.DataFrame,
    reference_sample: pd.DataFrame,
    score_date: dt.date,
    reports_dir: Path,
) -> str:
    """Evidently HTML + JSON on seeded samples, saved locally and logged to MLflow.

    A re-run for the same date and model version overwrites its report and logs into the
    same MLflow run, so monitoring retries leave one record per date.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    # Evidently refuses a column with no values (an optional source that missed the day);
    # Nightjar's own PSI still measures it, so the report leaves it out and says so.
    empty = [
        c
        for c in config.feature_names
        if current_sample[c].isna().all() or reference_sample[c].isna().all()
    ]
    if empty:
        log.warning("%s: %s had no values; left out of the Evidently report", score_date, empty)
    numeric = [c for c in config.feature_names if c not in config.categorical and c not in empty]
    definition = DataDefinition(
        numerical_columns=numeric,
        categorical_columns=[c for c in config.categorical if c not in empty],
    )
    current_sample = current_sample.drop(columns=empty)
    reference_sample = reference_sample.drop(columns=empty)
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current_sample, data_definition=definition),
        Dataset.from_pandas(reference_sample, data_definition=definition),
    )
    reports_dir.mkdir(parents=True, exist_ok=True)
    html = reports_dir / f"drift-{config.name}-{score_date.isoformat()}.html"
    snapshot.save_html(str(html))
    html.with_suffix(".json").write_text(snapshot.json())
    experiment = tracking.ensure_experiment(settings, f"{config.name}-monitoring")
    tags = {
        "nightjar.model_name": model.name,
        "nightjar.model_version": model.version,
        "nightjar.score_date": score_date.isoformat(),
    }
    mlflow_client = tracking.client(settings)
    existing = mlflow_client.search_runs(
        [experiment],
        filter_string=" and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items()),
        max_results=1,
    )
    if existing:  # a re-run of this date updates its report in place
        run_id = existing[0].info.run_id
    else:
        run_id = mlflow_client.create_run(
            experiment, tags=tags, run_name=f"drift-{score_date}"
        ).info.run_id
    mlflow_client.log_artifact(run_id, str(html), "drift")
    mlflow_client.log_artifact(run_id, str(html.with_suffix(".json")), "drift")
    mlflow_client.set_terminated(run_id)
    return str(html)
