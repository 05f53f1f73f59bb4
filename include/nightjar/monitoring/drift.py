"""Drift of a window of scored nights against a reference, for the champion.

Decisions use the Population Stability Index over fixed bins (``drift_stats``): PSI
measures how far a distribution moved, not how sure we are that it moved at all, so
unlike a p-value it does not flag every column once n is large.

Each night is counted once per champion version into ``drift_counts_<dataset>`` (rows
per bin, per column), so the current window (``drift.current_window_days`` nights ending
at the monitored date) and a reference span of scored nights are sums of stored counts.
The training reference, with its bins and its counts per training day, is computed once
per model version and kept with the model in MLflow. A night is read one Arrow batch at a
time, so memory does not grow with its rows. Evidently renders the human-readable report
from a sample of the monitored night (``drift_report``); the decision never depends on it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
from pyarrow.parquet import filters_to_expression

from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.drift_stats import (
    SEASON_SHIFT,
    ColumnBins,
    Comparison,
    compare,
    fit_bins,
    matcher,
)
from nightjar.core.errors import MissingInputError
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import HOLDOUT, PROBABILITY, TAG_TRAINING_KEY
from nightjar.features.definitions import FEATURE_DATE
from nightjar.io import delta_tables, tracking
from nightjar.scoring.scorer import SCORE_DATE, ModelRef
from nightjar.training.trainer import PREDICTION, TRAINING_RUN

log = logging.getLogger(__name__)
UNDATED = dt.date(1970, 1, 1)
"""The one "day" of reference rows that carry no date (a holdout without its dates)."""
_REFERENCE_ARTIFACT = "drift/reference_v2.json"
_REFERENCE_SAMPLE = "drift/reference_sample.parquet"

NightCounts = dict[dt.date, dict[str, np.ndarray]]
"""Rows per bin, by night, then by column."""


@dataclass(frozen=True)
class DriftSummary:
    score_date: dt.date
    features: int
    drifted: list[str]
    prediction_psi: float | None
    breached: bool
    report_html: str
    window: tuple[dt.date, dt.date]
    reference: str
    data_quality: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Reference:
    """The champion's training data as drift sees it: each column's bins, rows per bin for
    each training day (each holdout day for the prediction), and a sample for the report."""

    bins: dict[str, ColumnBins]
    daily: NightCounts
    sample: pd.DataFrame

    def to_json(self) -> dict:
        return {
            "bins": {name: b.as_dict() for name, b in self.bins.items()},
            "daily": {
                day.isoformat(): {name: c.tolist() for name, c in columns.items()}
                for day, columns in self.daily.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict, sample: pd.DataFrame) -> Reference:
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


# --- per-night counts ------------------------------------------------------------------


def _partition(uri: str, column: str, value: dt.date) -> ds.Dataset | None:
    """The rows of one partition of a Delta table, as a lazily read dataset."""
    table = delta_tables.open_table(uri)
    if table is None:
        return None
    return table.to_pyarrow_dataset().filter(filters_to_expression([(column, "=", value)]))


def _count_night(
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
    features = _partition(settings.table_uri(config.table_name("features")), FEATURE_DATE, night)
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
        settings.table_uri(config.table_name("scores")),
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


def _store_counts(
    settings: Settings, config: DatasetConfig, model: ModelRef, night: dt.date, counts: dict
) -> None:
    rows = [
        {SCORE_DATE: night, "model_version": model.version, "column": name, "counts": c.tolist()}
        for name, c in counts.items()
    ]
    delta_tables.replace_partition(
        settings.table_uri(config.table_name("drift_counts")),
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
        value=night,
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
        settings.table_uri(config.table_name("drift_counts")),
        filters=[(SCORE_DATE, "in", nights), ("model_version", "=", model.version)],
    )
    found: NightCounts = {}
    for row in stored.to_pylist() if stored is not None else []:
        found.setdefault(row[SCORE_DATE], {})[row["column"]] = np.asarray(row["counts"])
    for night in nights:
        if night in found and set(config.feature_names) <= set(found[night]):
            continue
        found[night], _ = _count_night(settings, config, model, bins, night)
        if found[night]:
            _store_counts(settings, config, model, night, found[night])
    return {night: counts for night, counts in found.items() if counts}


def _scored_nights(settings: Settings, config: DatasetConfig) -> set[dt.date]:
    return delta_tables.partition_dates(
        settings.table_uri(config.table_name("features")), FEATURE_DATE
    )


# --- the window and its reference -------------------------------------------------------


def window_nights(last: dt.date, days: int) -> list[dt.date]:
    """The ``days`` calendar nights ending at ``last``, oldest first."""
    return [last - dt.timedelta(days=i) for i in range(days - 1, -1, -1)]


def _accepted_nights(settings: Settings, config: DatasetConfig, nights: list[dt.date]) -> list:
    """Those of ``nights`` whose retrain decision recorded no breach."""
    from nightjar.monitoring.retrain_policy import DECISION_DATE

    decisions = delta_tables.read(
        settings.table_uri(config.table_name("retrain_decisions")),
        filters=[(DECISION_DATE, "in", nights)],
        columns=[DECISION_DATE, "breached"],
    )
    if decisions is None:
        return []
    return [row[DECISION_DATE] for row in decisions.to_pylist() if not row["breached"]]


def _reference_nights(
    settings: Settings,
    config: DatasetConfig,
    model: ModelRef,
    reference: Reference,
    window: list[dt.date],
) -> tuple[NightCounts, str]:
    """The reference the config asks for, as counts per day, and what it is in words.
    Falls back to the training data, and says so, when the asked-for nights are absent."""
    spec = config.drift
    training = f"training data ({_describe_days(reference.daily)})"
    if spec.reference == "training":
        return reference.daily, training
    if spec.reference == "rolling":
        before = window_nights(window[0] - dt.timedelta(days=1), spec.rolling_days)
        days = _accepted_nights(settings, config, before)
        what = f"accepted nights of {before[0]}..{before[-1]}"
    else:
        shift = dt.timedelta(days=7 if spec.reference == "week_earlier" else 364)
        days = [night - shift for night in window]
        what = f"{days[0]}..{days[-1]} ({shift.days} days earlier)"
    counts = _days_counts(settings, config, model, reference, days)
    if not counts:
        return reference.daily, f"{training}, as no nights of {what} were scored"
    return counts, what


def _days_counts(
    settings: Settings,
    config: DatasetConfig,
    model: ModelRef,
    reference: Reference,
    days: Iterable[dt.date],
) -> NightCounts:
    """Counts for ``days``: scored nights' counts, else the training data's for that day."""
    days = set(days)
    found = night_counts(settings, config, model, reference.bins, days)
    for day in days - set(found):
        if day in reference.daily:
            found[day] = reference.daily[day]
    return found


def _describe_days(days: Iterable[dt.date]) -> str:
    dated = sorted(day for day in days if day != UNDATED)
    return f"{dated[0]}..{dated[-1]}" if dated else "undated"


def _column(counts: NightCounts, name: str) -> dict[dt.date, np.ndarray]:
    return {day: columns[name] for day, columns in counts.items() if name in columns}


@dataclass(frozen=True)
class ColumnResult:
    name: str
    comparison: Comparison
    threshold: float
    reference: str

    @property
    def drifted(self) -> bool:
        value = self.comparison.psi
        return value is not None and value > self.threshold


def compare_window(
    config: DatasetConfig,
    current: NightCounts,
    baseline: tuple[NightCounts, str],
    *,
    training: NightCounts,
    yearly: NightCounts,
) -> list[ColumnResult]:
    """Each monitored feature and the prediction, window against the baseline (counts,
    and what they are). A yearly feature is compared with its nights 52 weeks earlier
    (``yearly``); a column the baseline lacks (a prediction of nights another version
    scored) with the training data."""
    baseline_counts, baseline_what = baseline
    results = []
    for name in [*config.monitored_features, PROBABILITY]:
        policy = config.drift.features.get(name)
        seasonal = policy.seasonal if policy else None
        days, what = _column(baseline_counts, name), baseline_what
        if seasonal == "yearly":
            days, what = _column(yearly, name), "the same nights 52 weeks earlier"
        elif not days:
            days, what = _column(training, name), "training data"
        if seasonal == "weekly":
            what = f"{what}, the same weekdays"
        comparison = compare(_column(current, name), days, matcher(seasonal, set(days)))
        results.append(ColumnResult(name, comparison, config.drift_threshold(name), what))
    return results


def is_breach(config: DatasetConfig, results: list[ColumnResult]) -> bool:
    """A window breaches when more than ``max_drifted_share`` of the features that could be
    compared drifted, or the prediction drifted (unless its monitoring is off)."""
    features = [r for r in results if r.name != PROBABILITY and r.comparison.status == "measured"]
    drifted = [r for r in features if r.drifted]
    prediction = next(r for r in results if r.name == PROBABILITY)
    share = len(drifted) / max(len(features), 1)
    return share > config.drift.max_drifted_share or (
        config.drift.prediction.monitored and prediction.drifted
    )


def measure_drift(
    settings: Settings,
    config: DatasetConfig,
    model: ModelRef,
    score_date: dt.date,
    reports_dir: Path,
) -> DriftSummary:
    """Compute, store and report drift for the window ending at one scored date."""
    from nightjar.monitoring.drift_report import render_report

    reference = load_or_build_reference(settings, config, model)
    tonight, sample = _count_night(
        settings,
        config,
        model,
        reference.bins,
        score_date,
        sample_rows=config.drift.report_sample_rows,
    )
    scored = delta_tables.read(
        settings.table_uri(config.table_name("scores")),
        filters=[(SCORE_DATE, "=", score_date)],
        columns=["model_version"],
    )
    if sample is None or scored is None or scored.num_rows == 0:
        raise MissingInputError(f"no features or scores for {score_date}; score the date first")
    if PROBABILITY not in tonight:
        versions = sorted(set(scored.column("model_version").to_pylist()))
        log.warning(
            "%s was scored by version(s) %s, not by champion v%s: its predictions are not "
            "compared with v%s's",
            score_date,
            ", ".join(versions),
            model.version,
            model.version,
        )
    _store_counts(settings, config, model, score_date, tonight)
    window = window_nights(score_date, config.drift.current_window_days)
    current = night_counts(settings, config, model, reference.bins, window[:-1])
    current[score_date] = tonight
    baseline, what = _reference_nights(settings, config, model, reference, window)
    yearly = {name for name, p in config.drift.features.items() if p.seasonal == "yearly"} & set(
        config.monitored_features
    )
    seasonal = (
        _days_counts(
            settings, config, model, reference, [n - SEASON_SHIFT["yearly"] for n in window]
        )
        if yearly
        else {}
    )
    results = compare_window(
        config, current, (baseline, what), training=reference.daily, yearly=seasonal
    )
    breached = is_breach(config, results)
    metrics = _metrics_rows(config, model, score_date, window, results)
    delta_tables.replace_partition(
        settings.table_uri(config.table_name("drift_metrics")),
        pa.Table.from_pandas(metrics, preserve_index=False),
        partition_column=SCORE_DATE,
        value=score_date,
    )
    drifted = [r.name for r in results if r.drifted and r.name != PROBABILITY]
    data_quality = _data_quality(score_date, results)
    prediction = next(r for r in results if r.name == PROBABILITY).comparison.psi
    html = render_report(
        settings,
        config,
        model,
        score_date,
        reports_dir,
        current_sample=sample,
        reference_sample=reference.sample,
        metrics=metrics,
        headline=f"window {window[0]}..{window[-1]} against {what}; breached: {breached}",
    )
    log.info(
        "drift %s (window %s..%s against %s): %d/%d features drifted (%s), prediction PSI "
        "%s, breached=%s",
        score_date,
        window[0],
        window[-1],
        what,
        len(drifted),
        len(config.monitored_features),
        ", ".join(drifted) or "none",
        "n/a" if prediction is None else f"{prediction:.3f}",
        breached,
    )
    for line in data_quality:
        log.warning("data quality: %s", line)
    return DriftSummary(
        score_date,
        len(config.monitored_features),
        drifted,
        prediction,
        breached,
        html,
        (window[0], window[-1]),
        what,
        data_quality,
    )


def _data_quality(score_date: dt.date, results: list[ColumnResult]) -> list[str]:
    """What kept columns or nights out of the comparison, in words."""
    lines = []
    for result in results:
        comparison = result.comparison
        if comparison.status == "no_values":
            lines.append(f"{result.name}: no values in the whole window; not compared")
        elif comparison.status == "no_reference":
            lines.append(f"{result.name}: nothing to compare with in {result.reference}")
        if comparison.null_nights:
            nights = ", ".join(map(str, comparison.null_nights))
            lines.append(f"{result.name}: no values on {nights}; those nights left out")
    return lines


def _metrics_rows(
    config: DatasetConfig,
    model: ModelRef,
    score_date: dt.date,
    window: list[dt.date],
    results: list[ColumnResult],
) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                SCORE_DATE: score_date,
                "feature": r.name,
                "statistic": "psi",
                "value": np.nan if r.comparison.psi is None else r.comparison.psi,
                "threshold": r.threshold,
                "drifted": r.drifted,
                "status": r.comparison.status,
                "window_start": window[0],
                "window_end": window[-1],
                "nights": r.comparison.nights,
                "null_nights": len(r.comparison.null_nights),
                "reference": r.reference,
                "reference_days": r.comparison.reference_days,
                "model_name": model.name,
                "model_version": model.version,
                "rows_current": r.comparison.rows,
            }
            for r in results
        ]
    )
