"""Realised performance once the labels have landed: the delayed-label monitor.

On a monitoring window D, labels for events of D - delay have just arrived. Their scores
are joined to those labels, read from the run's pinned lakeFS commit, and the metrics,
overall and per slice, replace that score date's partition of ``performance_metrics``.
A primary metric below the gate policy's floor raises an alert (a warning in the task log,
and a breach the retrain guard counts).
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd
import pyarrow as pa

from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.gate_policy import load_policy
from nightjar.core.metrics import binary_metrics, slice_metrics
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import PROBABILITY
from nightjar.features.definitions import FEATURE_DATE
from nightjar.io import delta_tables
from nightjar.io.snapshots import Snapshot
from nightjar.scoring import shadow
from nightjar.scoring.scorer import SCORE_DATE
from nightjar.training.trainer import load_labels

log = logging.getLogger(__name__)


def measure_performance(
    settings: Settings, config: DatasetConfig, snapshot: Snapshot, window: dt.date
) -> dict | None:
    """Metrics for the score date whose labels are due on ``window``; None if none yet."""
    score_date = window - dt.timedelta(days=config.label.delay_days)
    scores = delta_tables.read(
        settings.table_uri(config.table_name("scores")), filters=[(SCORE_DATE, "=", score_date)]
    )
    if scores is None or scores.num_rows == 0:
        log.info("no scores for %s: nothing to measure on %s", score_date, window)
        return None
    labels = load_labels(settings, config, snapshot, score_date, window)
    frame = scores.to_pandas().merge(labels, on=config.entity_key, how="inner")
    if frame.empty:
        log.info("labels for %s have not landed by %s", score_date, window)
        return None
    slice_columns = [c for c in config.slices if c not in frame]
    if slice_columns:
        features = delta_tables.read(
            settings.table_uri(config.table_name("features")),
            filters=[(FEATURE_DATE, "=", score_date)],
            columns=[config.entity_key, *slice_columns],
        )
        if features is not None:
            frame = frame.merge(features.to_pandas(), on=config.entity_key, how="left")
    label = config.label.column
    groups = {"overall": binary_metrics(frame[label], frame[PROBABILITY])}
    groups |= slice_metrics(frame, label, PROBABILITY, [c for c in config.slices if c in frame])
    rows = [
        {
            SCORE_DATE: score_date,
            "measured_on": window,
            "segment": segment,
            "metric": metric,
            "value": value,
            "model_version": str(frame["model_version"].iloc[0]),
        }
        for segment, metrics in groups.items()
        for metric, value in metrics.items()
        if np.isfinite(value)
    ]
    delta_tables.replace_partition(
        settings.table_uri(config.table_name("performance_metrics")),
        pa.Table.from_pandas(pd.DataFrame(rows), preserve_index=False),
        partition_column=SCORE_DATE,
        value=score_date,
    )
    policy = load_policy(config.gate_policy)
    shadow.record_night(
        settings,
        config,
        score_date,
        labels=labels.set_index(config.entity_key)[label],
        metric=policy.primary_metric,
    )
    primary = groups["overall"][policy.primary_metric]
    below = bool(primary < policy.min_primary_metric)
    if below:
        log.warning(
            "ALERT %s: realised %s %.4f on %s is below the gate's floor %.4f",
            config.name,
            policy.primary_metric,
            primary,
            score_date,
            policy.min_primary_metric,
        )
    return {
        "score_date": score_date.isoformat(),
        "rows": len(frame),
        "metric": policy.primary_metric,
        "value": float(primary),
        "below_threshold": below,
    }
