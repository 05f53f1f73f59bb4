"""Nightly batch scoring: one date's features, one pinned model version, one Delta partition.

The hot path is ``score_record_batches``: Arrow batches in, Arrow batches out, the
Booster loaded once per process and cached by its hash. Spark runs it with
``mapInArrow`` (one Booster per Python worker, reused across batches); the embedded
stack can run the very same function over delta-rs batches in the driver. Either way the
result is written with one atomic predicate overwrite of the date's partition.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.errors import MissingInputError
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import DECISION, MODEL_TEXT, PROBABILITY, SCORE_DATE
from nightjar.features.definitions import FEATURE_DATE
from nightjar.features.job import FEATURE_SPEC, LAKEFS_COMMIT
from nightjar.io import delta_tables
from nightjar.training.model_inputs import Categories, encode_batch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelRef:
    """A concrete, pinned model version: resolved from an alias once, at run start."""

    name: str
    version: str
    run_id: str
    alias: str


@dataclass(frozen=True)
class ScoringContext:
    """Everything stamped on each scored row besides the model."""

    score_date: dt.date
    dag_run_id: str
    logical_date: str
    data_interval_end: dt.datetime  # the run's: the same on every retry of the run


def resolve_alias(settings: Settings, model_name: str, alias: str) -> ModelRef | None:
    """The version behind an alias, pinned once at run start so every task scores with the same
    model."""
    from mlflow.exceptions import MlflowException

    from nightjar.io.tracking import client

    try:
        version = client(settings).get_model_version_by_alias(model_name, alias)
    except MlflowException:
        return None
    return ModelRef(model_name, str(version.version), version.run_id, alias)


def load_model_text(settings: Settings, model: ModelRef) -> str:
    """The model's LightGBM text, from its MLflow run."""
    from nightjar.io.tracking import read_text

    return read_text(settings, model.run_id, MODEL_TEXT)


@cache
def _booster(model_text: str) -> lgb.Booster:
    return lgb.Booster(model_str=model_text)


def booster_for(model_text: str) -> lgb.Booster:
    """A process-wide Booster per model (parsed once, however many batches follow)."""
    return _booster(model_text)


def score_record_batches(
    batches: Iterator[pa.RecordBatch],
    *,
    model_text: str,
    features: list[str],
    categories: Categories,
    threshold: float,
    keep: list[str],
    stamp: dict[str, object],
) -> Iterator[pa.RecordBatch]:
    """Probability and decision for every row, plus the kept columns and lineage stamp."""
    booster = booster_for(model_text)
    for batch in batches:
        if batch.num_rows == 0:
            continue
        probability = booster.predict(encode_batch(batch, features, categories))
        columns = {name: batch.column(name) for name in keep}
        columns[PROBABILITY] = pa.array(probability, pa.float64())
        columns[DECISION] = pa.array(probability >= threshold, pa.bool_())
        for name, value in stamp.items():
            columns[name] = pa.repeat(pa.scalar(value), batch.num_rows)
        yield pa.RecordBatch.from_pydict(columns)


def _stamp(model: ModelRef, context: ScoringContext) -> dict[str, object]:
    return {
        "model_name": model.name,
        "model_version": model.version,
        "model_run_id": model.run_id,
        "model_alias": model.alias,
        "dag_run_id": context.dag_run_id,
        "logical_date": context.logical_date,
        "data_interval_end": pa.scalar(context.data_interval_end, pa.timestamp("us", tz="UTC")),
        # when these rows were computed: differs between retries, by design
        "scored_at": pa.scalar(dt.datetime.now(dt.UTC), pa.timestamp("us", tz="UTC")),
        SCORE_DATE: context.score_date,
    }


def score_table(
    settings: Settings,
    config: DatasetConfig,
    model: ModelRef,
    context: ScoringContext,
    *,
    categories: Categories,
    model_text: str,
    engine: str | None = None,
) -> pa.Table:
    """Score ``score_date``'s features with ``model``: one row per entity with the
    probability, the decision and the lineage stamp."""
    features_uri = settings.table_uri(config.table_name("features"))
    source = delta_tables.open_table(features_uri)
    day = context.score_date.isoformat()
    if source is None:
        raise MissingInputError(
            f"feature table {features_uri} does not exist; run the feature step"
        )
    keep = [config.entity_key, config.event_time, LAKEFS_COMMIT, FEATURE_SPEC]
    arrow = source.to_pyarrow_table(
        filters=[(FEATURE_DATE, "=", context.score_date)], columns=keep + config.feature_names
    )
    if arrow.num_rows == 0:
        raise MissingInputError(f"no features for {day} in {features_uri}; run the feature step")
    kwargs = dict(
        model_text=model_text,
        features=config.feature_names,
        categories=categories,
        threshold=config.model.threshold,
        keep=keep,
        stamp=_stamp(model, context),
    )
    if (engine or settings.scoring_engine) == "spark":
        return _score_on_spark(settings, arrow, kwargs)
    return pa.Table.from_batches(list(score_record_batches(iter(arrow.to_batches()), **kwargs)))


def write_scores(
    settings: Settings, scored: pa.Table, *, table: str, context: ScoringContext
) -> int:
    """Atomically replace the date's partition of ``table`` with ``scored``; the Delta
    commit records the input commit, the model versions and the DAG run."""
    commits = pc.unique(scored.column(LAKEFS_COMMIT)).to_pylist()
    versions = pc.unique(scored.column("model_version")).to_pylist()
    delta_tables.replace_partition(
        settings.table_uri(table),
        scored,
        partition_column=SCORE_DATE,
        value=context.score_date,
        commit_metadata={
            delta_tables.LAKEFS_COMMIT_KEY: ",".join(commits),
            "nightjar.model_version": ",".join(sorted(map(str, versions))),
            "nightjar.dag_run_id": context.dag_run_id,
        },
    )
    log.info(
        "scored %d rows for %s with model version(s) %s into %s",
        scored.num_rows,
        context.score_date,
        ", ".join(map(str, versions)),
        table,
    )
    return scored.num_rows


def score_partition(
    settings: Settings,
    config: DatasetConfig,
    model: ModelRef,
    context: ScoringContext,
    *,
    table: str,
    categories: Categories,
    model_text: str,
    engine: str | None = None,
) -> int:
    """Score ``score_date``'s features with ``model`` into ``table``; return the row count."""
    scored = score_table(
        settings,
        config,
        model,
        context,
        categories=categories,
        model_text=model_text,
        engine=engine,
    )
    return write_scores(settings, scored, table=table, context=context)


def in_canary(entity_ids: pa.ChunkedArray, share: float) -> np.ndarray:
    """Stable assignment of entities to the canary: the same ids land in it every night
    and on every machine (pandas' fixed-key SipHash of the id)."""
    import pandas as pd

    hashes = pd.util.hash_pandas_object(entity_ids.to_pandas(), index=False).to_numpy()
    return hashes < np.uint64(share * float(2**64 - 1))


def canary_mix(champion: pa.Table, challenger: pa.Table, *, key: str, share: float) -> pa.Table:
    """What consumers read during a canary: the challenger's rows (with its own lineage
    stamp) for the canary entities, the champion's for everyone else."""
    served = champion.filter(pa.array(~in_canary(champion.column(key), share)))
    canary = challenger.filter(pa.array(in_canary(challenger.column(key), share)))
    return pa.concat_tables([served, canary.select(served.column_names)]).sort_by(key)


def _score_on_spark(settings: Settings, arrow: pa.Table, kwargs: dict) -> pa.Table:
    from nightjar.io.spark import get_spark

    spark = get_spark(settings)
    frame = spark.createDataFrame(arrow)
    sample = next(score_record_batches(iter(arrow.slice(0, 1).to_batches()), **kwargs))
    from pyspark.sql.pandas.types import from_arrow_schema

    schema = from_arrow_schema(sample.schema)
    result = frame.mapInArrow(lambda batches: score_record_batches(batches, **kwargs), schema)
    return result.toArrow().cast(sample.schema)
