"""Feature computation: the one code path used for training and for scoring.

Both the training set and every nightly scoring batch go through ``compute_features``,
so a feature cannot mean one thing at training time and another at scoring time. The
definitions come from the dataset config; this file is part of the feature-spec hash, so
changing it changes the version recorded with every model and score.

Point-in-time correctness: window features aggregate only the entity's events strictly
before the current event (``rangeBetween(-range, -1)`` on epoch seconds), and labels are
joined elsewhere, only once they are known.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from nightjar.core.dataset_config import (
    DatasetConfig,
    ExprFeature,
    TransformFeature,
    WindowFeature,
)
from nightjar.core.vocabulary import FEATURE_DATE


def _monthly_payment_ratio(loan_amount: Column, term_months: Column, income: Column) -> Column:
    """Annuity payment at 10% APR as a share of monthly income."""
    rate = F.lit(0.10 / 12)
    payment = loan_amount * rate / (F.lit(1.0) - F.pow(F.lit(1.0) + rate, -term_months))
    return payment / (income / F.lit(12.0) + F.lit(1.0))


def _days_since(timestamp: Column, reference: Column) -> Column:
    """Whole days between two timestamps."""
    return F.datediff(reference, timestamp).cast("double")


TRANSFORMS: dict[str, Callable[..., Column]] = {
    "monthly_payment_ratio": _monthly_payment_ratio,
    "days_since": _days_since,
}

_AGGREGATES: dict[str, Callable[[Column], Column]] = {
    "count": F.count,
    "sum": F.sum,
    "avg": F.avg,
    "min": F.min,
    "max": F.max,
}


def _window_column(config: DatasetConfig, feature: WindowFeature) -> Column:
    seconds = F.col(config.event_time).cast("timestamp").cast("long")
    window = (
        Window.partitionBy(*feature.partition_by)
        .orderBy(seconds)
        .rangeBetween(-feature.range_days * 86_400, -1)
    )
    value = _AGGREGATES[feature.agg](F.col(feature.column)).over(window)
    return F.coalesce(value, F.lit(0)) if feature.agg == "count" else value


def feature_column(config: DatasetConfig, name: str) -> Column:
    """The Spark column that computes feature ``name``, the same for training and scoring."""
    spec = config.features[name]
    definition = spec.definition
    if isinstance(definition, ExprFeature):
        column = F.expr(definition.expr)
    elif isinstance(definition, WindowFeature):
        column = _window_column(config, definition)
    elif isinstance(definition, TransformFeature):
        transform = TRANSFORMS.get(definition.transform)
        if transform is None:
            raise KeyError(
                f"features.{name}: unknown transform {definition.transform!r}; "
                f"registered: {sorted(TRANSFORMS)}"
            )
        column = transform(*(F.col(c) for c in definition.inputs))
    else:  # pragma: no cover - the config's discriminator makes this unreachable
        raise TypeError(f"features.{name}: unsupported definition {definition!r}")
    spark_type = {"float": "double", "int": "bigint", "string": "string"}[spec.type]
    return column.cast(spark_type).alias(name)


def join_sources(config: DatasetConfig, frames: dict[str, DataFrame]) -> DataFrame:
    """The base source left-joined with every other non-label source on its ``join_on``."""
    joined = frames[config.base_source]
    for name, source in config.sources.items():
        if name in (config.base_source, config.label.source):
            continue
        joined = joined.join(
            frames[name].withColumnsRenamed(source.joined_names()),
            on=list(source.join_on),
            how="left",
        )
    return joined


def compute_features(config: DatasetConfig, joined: DataFrame) -> DataFrame:
    """Entity key, event time, feature date and every configured feature, one row per event.

    ``joined`` must include the history the window features need; callers filter the
    result to the dates they want afterwards.
    """
    columns = [
        F.col(config.entity_key),
        F.col(config.event_time).cast("timestamp").alias(config.event_time),
        F.to_date(F.col(config.event_time)).alias(FEATURE_DATE),
    ]
    columns += [feature_column(config, name) for name in config.feature_names]
    return joined.select(*columns)


def spec_hash(config: DatasetConfig) -> str:
    """Stable version of the feature definitions and the code that computes them.

    Recorded with every feature table, model and scored row: if either the YAML's feature
    section or this module (the code that computes the features) changes, it changes.
    """
    payload = {
        "entity_key": config.entity_key,
        "event_time": config.event_time,
        "timezone": config.timezone,  # it decides which date an event belongs to
        "sources": {k: v.model_dump(mode="json") for k, v in sorted(config.sources.items())},
        "features": {k: v.model_dump(mode="json") for k, v in config.features.items()},
        "categorical": config.categorical,
        "code": Path(__file__).read_bytes().hex(),
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return digest[:16]
