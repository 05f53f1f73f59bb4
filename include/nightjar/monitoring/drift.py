"""Drift of a window of scored nights against a reference, for the champion.

Decisions use the Population Stability Index over fixed bins (``core.drift_stats``): PSI
measures how far a distribution moved, not how sure we are that it moved at all, so
unlike a p-value it does not flag every column once n is large.

This module chooses what to compare: the current window (``drift.current_window_days``
nights ending at the monitored date), and the reference the config asks for (the
training data from ``drift_reference``, or scored nights a week or 52 weeks earlier, or
the accepted nights before the window), as sums of per-night counts (``drift_counts``).
A night is measured under the model version that served it (the one that scored it),
so a newer champion never overwrites an older one's measurement: ``drift_metrics_*``
keeps one row per column per (date, version). ``drift_report`` renders the
human-readable report, on which no decision depends.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from nightjar.core.catalog import catalog_for
from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.drift_stats import (
    SEASON_SHIFT,
    Comparison,
    NightCounts,
    compare,
    matcher,
)
from nightjar.core.errors import MissingInputError
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import PROBABILITY
from nightjar.io import delta_tables
from nightjar.monitoring.drift_counts import count_night, night_counts, store_counts
from nightjar.monitoring.drift_reference import UNDATED, Reference, load_or_build_reference
from nightjar.monitoring.retrain_log import decisions_in_force
from nightjar.scoring.scorer import SCORE_DATE, ModelRef

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DriftSummary:
    """What one night's monitoring found, with the windows it compared."""

    score_date: dt.date
    features: int
    drifted: list[str]
    prediction_psi: float | None
    breached: bool
    report_html: str
    window: tuple[dt.date, dt.date]
    reference: str
    data_quality: list[str] = field(default_factory=list)
    window_nights: tuple[dt.date, ...] = ()  # the scored nights the window held


def window_nights(last: dt.date, days: int) -> list[dt.date]:
    """The ``days`` calendar nights ending at ``last``, oldest first."""
    return [last - dt.timedelta(days=i) for i in range(days - 1, -1, -1)]


def _accepted_nights(settings: Settings, config: DatasetConfig, nights: list[dt.date]) -> list:
    """Those of ``nights`` whose retrain decision in force recorded no breach."""
    decided = decisions_in_force(settings, config)
    return [night for night in nights if night in decided and not decided[night].breached]


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
        shift = SEASON_SHIFT["weekly" if spec.reference == "week_earlier" else "yearly"]
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
    """One column's comparison, its threshold and what it was compared with."""

    name: str
    comparison: Comparison
    threshold: float
    reference: str

    @property
    def drifted(self) -> bool:
        """Whether the column's PSI exceeds its threshold (never, when it could not be
        compared)."""
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


def serving_model(settings: Settings, config: DatasetConfig, night: dt.date) -> ModelRef:
    """The model version that served ``night``: the pinned champion of its scores (a
    canary's challenger rows aside); MissingInputError when the night is not scored."""
    scored = delta_tables.read(
        catalog_for(settings, config).scores,
        filters=[(SCORE_DATE, "=", night)],
        columns=["model_name", "model_version", "model_run_id", "model_alias"],
    )
    if scored is None or scored.num_rows == 0:
        raise MissingInputError(f"{night} is not scored: score the date first")
    rows = scored.to_pandas()
    champion = rows[rows["model_alias"] == "champion"]
    served = (champion if len(champion) else rows).value_counts().index[0]
    name, version, run_id, alias = served
    return ModelRef(str(name), str(version), str(run_id), str(alias))


def measure_drift(
    settings: Settings,
    config: DatasetConfig,
    model: ModelRef,
    score_date: dt.date,
    reports_dir: Path | None,
    *,
    reference: Reference | None = None,
) -> DriftSummary:
    """Compute and store drift for the window ending at one scored date, under the model
    version ``model`` (the one that served it); render its report unless ``reports_dir``
    is None (a window measured again because an earlier night was scored since)."""
    from nightjar.monitoring.drift_report import render_report

    reference = reference or load_or_build_reference(settings, config, model)
    tonight, sample = count_night(
        settings,
        config,
        model,
        reference.bins,
        score_date,
        sample_rows=config.drift.report_sample_rows if reports_dir else 0,
    )
    if not tonight:
        raise MissingInputError(f"no features for {score_date}; score the date first")
    if PROBABILITY not in tonight:
        log.warning(
            "%s has no scores of v%s: its predictions are not compared with v%s's",
            score_date,
            model.version,
            model.version,
        )
    store_counts(settings, config, model, score_date, tonight)
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
    delta_tables.replace_date_range(
        catalog_for(settings, config).drift_metrics,
        pa.Table.from_pandas(metrics, preserve_index=False),
        partition_column=SCORE_DATE,
        start=score_date,
        end=score_date,
        only_where={"model_version": model.version},
    )
    drifted = [r.name for r in results if r.drifted and r.name != PROBABILITY]
    data_quality = _data_quality(results)
    prediction = next(r for r in results if r.name == PROBABILITY).comparison.psi
    headline = f"window {window[0]}..{window[-1]} against {what}; breached: {breached}"
    html = ""
    if reports_dir is not None:
        html = render_report(
            settings,
            config,
            model,
            score_date,
            reports_dir,
            current_sample=sample,
            reference_sample=reference.sample,
            metrics=metrics,
            headline=headline,
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
        tuple(sorted(current)),
    )


def _data_quality(results: list[ColumnResult]) -> list[str]:
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
