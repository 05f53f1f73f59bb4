"""Realised performance once the labels have landed: the delayed-label monitor.

A scored date's labels are due ``label.delay_days`` after it. Every monitoring run
measures each scored date whose labels are due at its pinned lakeFS commit and that has
no measurement yet, and measures again each date whose labels changed on main since it
was measured (a late or corrected label batch): the scores are joined with every label
on main for their entities, and the metrics, overall and per slice, replace that date's
partition of ``performance_metrics``, with the commit they were read at. A primary
metric below the gate policy's floor is logged as an alert; the loop guard reads it as
the realised-performance signal.
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd
import pyarrow as pa

from nightjar.core.catalog import catalog_for
from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.gate_policy import load_policy
from nightjar.core.metrics import binary_metrics, slice_metrics
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import PROBABILITY
from nightjar.features.definitions import FEATURE_DATE
from nightjar.ingest.raw_changes import changed_between
from nightjar.io import delta_tables
from nightjar.io.lakefs_client import make_client
from nightjar.io.raw_tables import list_partitions
from nightjar.io.snapshots import Snapshot
from nightjar.scoring import shadow
from nightjar.scoring.scorer import SCORE_DATE
from nightjar.training.trainer import load_labels

log = logging.getLogger(__name__)
KIND = "performance_metrics"


def dates_to_measure(
    settings: Settings, config: DatasetConfig, snapshot: Snapshot
) -> list[dt.date]:
    """Scored dates whose labels are due at the snapshot and that have no measurement, or
    whose labels changed on main since they were measured; oldest first."""
    client = make_client(settings)
    label_path = config.sources[config.label.source].path
    label_days = list_partitions(client, snapshot.repository, snapshot.commit_id, label_path)
    if not label_days:
        return []
    delay = dt.timedelta(days=config.label.delay_days)
    scored = delta_tables.partition_dates(catalog_for(settings, config).scores, SCORE_DATE)
    due = {day for day in scored if day + delay <= max(label_days)}
    measured = _measured_at(settings, config)
    todo = {day for day in due if day not in measured}
    for commit in {measured[day] for day in due & set(measured)} - {snapshot.commit_id, None}:
        changed = changed_between(
            client, snapshot.repository, commit, snapshot.commit_id, [label_path]
        )
        todo |= {
            day for day in due if measured.get(day) == commit and any(day <= c for c in changed)
        }
    # Dates measured before the commit was recorded are measured once more, to record it.
    todo |= {day for day in due if day in measured and measured[day] is None}
    return sorted(todo)


def _measured_at(settings: Settings, config: DatasetConfig) -> dict[dt.date, str | None]:
    """Each measured date and the lakeFS commit its labels were read at."""
    table = delta_tables.read(catalog_for(settings, config).table(KIND))
    if table is None:
        return {}
    has_commit = "lakefs_commit" in table.column_names
    columns = [SCORE_DATE, "lakefs_commit"] if has_commit else [SCORE_DATE]
    return {row[SCORE_DATE]: row.get("lakefs_commit") for row in table.select(columns).to_pylist()}


def measure_dates(
    settings: Settings, config: DatasetConfig, snapshot: Snapshot, days: list[dt.date]
) -> dict[dt.date, dict | None]:
    """Measure each of ``days`` (see ``measure_date``); the labels are read once."""
    if not days:
        return {}
    newest = max(list_partitions(
        make_client(settings), snapshot.repository, snapshot.commit_id,
        config.sources[config.label.source].path,
    ))  # fmt: skip
    labels = load_labels(settings, config, snapshot, min(days), newest)
    return {day: measure_date(settings, config, snapshot, day, labels) for day in days}


def measure_date(
    settings: Settings,
    config: DatasetConfig,
    snapshot: Snapshot,
    score_date: dt.date,
    labels: pd.DataFrame,
) -> dict | None:
    """Metrics of ``score_date``'s scores against ``labels``; None if none of its
    entities has one."""
    scores = delta_tables.read(
        catalog_for(settings, config).scores, filters=[(SCORE_DATE, "=", score_date)]
    )
    if scores is None or scores.num_rows == 0:
        log.info("no scores for %s: nothing to measure", score_date)
        return None
    frame = scores.to_pandas().merge(labels, on=config.entity_key, how="inner")
    if frame.empty:
        log.info("no label of %s's entities has landed", score_date)
        return None
    slice_columns = [c for c in config.slices if c not in frame]
    if slice_columns:
        features = delta_tables.read(
            catalog_for(settings, config).features,
            filters=[(FEATURE_DATE, "=", score_date)],
            columns=[config.entity_key, *slice_columns],
        )
        if features is not None:
            frame = frame.merge(features.to_pandas(), on=config.entity_key, how="left")
    label = config.label.column
    groups = {"overall": binary_metrics(frame[label], frame[PROBABILITY])}
    groups |= slice_metrics(frame, label, PROBABILITY, [c for c in config.slices if c in frame])
    measured_on = dt.date.today()
    rows = [
        {
            SCORE_DATE: score_date,
            "measured_on": measured_on,
            "segment": segment,
            "metric": metric,
            "value": value,
            "model_version": str(frame["model_version"].mode().iloc[0]),
            "lakefs_commit": snapshot.commit_id,
        }
        for segment, metrics in groups.items()
        for metric, value in metrics.items()
        if np.isfinite(value)
    ]
    delta_tables.replace_partition(
        catalog_for(settings, config).table(KIND),
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
    log.info(
        "realised %s on %s: %.4f over %d labelled rows", policy.primary_metric, score_date,
        primary, len(frame),
    )  # fmt: skip
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
