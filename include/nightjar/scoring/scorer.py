"""Nightly batch scoring: one date's features, one pinned model version, one Delta partition.

The hot path is ``score_record_batches``: Arrow batches in, Arrow batches out, the
Booster loaded once per process and cached by its hash. Two engines run it:

- ``arrow`` (the embedded default): over delta-rs batches in the task process, written
  with delta-rs;
- ``spark``: with ``mapInArrow`` on the executors (one Booster per Python worker, reused
  across batches), read and written with delta-spark, so no row passes through the driver.

Either way the result is one atomic overwrite of the date's partition, whose Delta commit
records the engine.
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


def _kept_columns(config: DatasetConfig) -> list[str]:
    """The features table's columns every scored row carries besides the features."""
    return [config.entity_key, config.event_time, LAKEFS_COMMIT, FEATURE_SPEC]


def _scoring_kwargs(
    config: DatasetConfig,
    model: ModelRef,
    context: ScoringContext,
    *,
    categories: Categories,
    model_text: str,
) -> dict:
    return dict(
        model_text=model_text,
        features=config.feature_names,
        categories=categories,
        threshold=config.model.threshold,
        keep=_kept_columns(config),
        stamp=_stamp(model, context),
    )


def _missing_features(features_uri: str, day: str) -> MissingInputError:
    return MissingInputError(f"no features for {day} in {features_uri}; run the feature step")


def score_table(
    settings: Settings,
    config: DatasetConfig,
    model: ModelRef,
    context: ScoringContext,
    *,
    categories: Categories,
    model_text: str,
) -> pa.Table:
    """Score ``score_date``'s features with ``model`` in this process (the Arrow engine):
    one row per entity with the probability, the decision and the lineage stamp."""
    features_uri = settings.table_uri(config.table_name("features"))
    source = delta_tables.open_table(features_uri)
    if source is None:
        raise MissingInputError(
            f"feature table {features_uri} does not exist; run the feature step"
        )
    arrow = source.to_pyarrow_table(
        filters=[(FEATURE_DATE, "=", context.score_date)],
        columns=_kept_columns(config) + config.feature_names,
    )
    if arrow.num_rows == 0:
        raise _missing_features(features_uri, context.score_date.isoformat())
    kwargs = _scoring_kwargs(config, model, context, categories=categories, model_text=model_text)
    return pa.Table.from_batches(list(score_record_batches(iter(arrow.to_batches()), **kwargs)))


def _scores_metadata(
    commits: list[str], versions: list[str], context: ScoringContext, engine: str
) -> dict[str, str]:
    """The scores partition's Delta commit metadata: its inputs, models, run and engine."""
    return {
        delta_tables.LAKEFS_COMMIT_KEY: ",".join(sorted(commits)),
        "nightjar.model_version": ",".join(sorted(map(str, versions))),
        "nightjar.dag_run_id": context.dag_run_id,
        "nightjar.scoring_engine": engine,
    }


def write_scores(
    settings: Settings, scored: pa.Table, *, table: str, context: ScoringContext
) -> int:
    """Atomically replace the date's partition of ``table`` with ``scored``; the Delta
    commit records the input commit, the model versions, the DAG run and the engine."""
    commits = pc.unique(scored.column(LAKEFS_COMMIT)).to_pylist()
    versions = pc.unique(scored.column("model_version")).to_pylist()
    delta_tables.replace_partition(
        settings.table_uri(table),
        scored,
        partition_column=SCORE_DATE,
        value=context.score_date,
        commit_metadata=_scores_metadata(commits, versions, context, "arrow"),
    )
    log.info(
        "scored %d rows for %s with model version(s) %s into %s",
        scored.num_rows,
        context.score_date,
        ", ".join(map(str, versions)),
        table,
    )
    return scored.num_rows


def scored_schema(kept: pa.Schema, stamp: dict[str, object]) -> pa.Schema:
    """The schema ``score_record_batches`` yields for input columns ``kept``: known before
    any row is scored, so Spark needs no sample row to plan the job."""
    stamped = [
        pa.field(name, value.type if isinstance(value, pa.Scalar) else pa.scalar(value).type)
        for name, value in stamp.items()
    ]
    return pa.schema(
        [*kept, pa.field(PROBABILITY, pa.float64()), pa.field(DECISION, pa.bool_()), *stamped]
    )


def score_partition_on_spark(
    settings: Settings,
    config: DatasetConfig,
    model: ModelRef,
    context: ScoringContext,
    *,
    table: str,
    categories: Categories,
    model_text: str,
) -> int:
    """The Spark engine: the executors read ``score_date``'s features partition with
    delta-spark, score it with ``mapInArrow`` (``score_record_batches``, one Booster per
    Python worker) and replace the partition of ``table`` with delta-spark. Rows never pass
    through the driver; it plans the job and sees the distinct lakeFS commits only."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

    from nightjar.io.spark import get_spark
    from nightjar.io.spark_delta import replace_partition_with_delta_spark

    features_uri = settings.table_uri(config.table_name("features"))
    if context.score_date not in delta_tables.partition_dates(features_uri, FEATURE_DATE):
        raise _missing_features(features_uri, context.score_date.isoformat())
    kwargs = _scoring_kwargs(config, model, context, categories=categories, model_text=model_text)
    features = (
        get_spark(settings)
        .read.format("delta")
        .load(features_uri)
        .where(F.col(FEATURE_DATE) == F.lit(context.score_date))
        .select(*kwargs["keep"], *config.feature_names)
    )
    kept = to_arrow_schema(features.select(*kwargs["keep"]).schema, timezone="UTC")
    schema = from_arrow_schema(scored_schema(kept, kwargs["stamp"]))
    scored = features.mapInArrow(lambda batches: score_record_batches(batches, **kwargs), schema)
    commits = [row[0] for row in features.select(LAKEFS_COMMIT).distinct().collect()]
    rows = replace_partition_with_delta_spark(
        scored,
        settings.table_uri(table),
        partition_column=SCORE_DATE,
        value=context.score_date,
        commit_metadata=_scores_metadata(commits, [model.version], context, "spark"),
    )
    log.info(
        "scored %d rows for %s with model version %s into %s on Spark (%s)",
        rows,
        context.score_date,
        model.version,
        table,
        settings.spark_master,
    )
    return rows


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
    """Score ``score_date``'s features with ``model`` into ``table`` with ``engine``
    (default: ``settings.scoring_engine``); return the row count."""
    if (engine or settings.scoring_engine) == "spark":
        return score_partition_on_spark(
            settings,
            config,
            model,
            context,
            table=table,
            categories=categories,
            model_text=model_text,
        )
    scored = score_table(
        settings, config, model, context, categories=categories, model_text=model_text
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
