"""Nightly batch scoring: one date's features, one pinned model version, one Delta partition.

The hot path is ``score_record_batches``: Arrow batches in, Arrow batches out, the
predictor loaded once per process and cached. The predictor is the version's compiled
forest when one passed its check at registration (``nightjar.promotion.compilation``) and
was built for this machine, else LightGBM's Booster. Two engines run it:

- ``arrow`` (the embedded default): in the task process, streaming: delta-rs reads the
  features partition batch by batch and writes each scored batch while the next is read
  and scored (``write_scores_streaming``; a canary, which mixes two models' rows, scores
  whole tables with ``score_table`` instead);
- ``spark``: with ``mapInArrow`` on the executors (one Booster per Python worker, reused
  across batches), read and written with delta-spark, so no row passes through the driver.

Either way the result is one atomic overwrite of the date's partition, whose Delta commit
records the engine and the predictor.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nightjar.core import lineage_record
from nightjar.core.catalog import catalog_for
from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.errors import MissingInputError
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import (
    DECISION,
    FEATURE_DATE,
    FEATURE_SPEC,
    LAKEFS_COMMIT,
    MODEL_TEXT,
    PROBABILITY,
    SCORE_DATE,
)
from nightjar.io import delta_tables
from nightjar.training import compiled_forest
from nightjar.training.model_inputs import Categories, encode_batch

log = logging.getLogger(__name__)
PREDICTOR_KEY = "nightjar.predictor"  # scores commits and tables: what predicted the rows
SELF_CHECK_ROWS = 1_000  # a compiled forest's first rows in a process, checked again


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

    lineage_record.note_input(
        lineage_record.model_dataset(settings.mlflow_uri, model.name, model.version)
    )
    return read_text(settings, model.run_id, MODEL_TEXT)


@cache
def _booster(model_text: str) -> lgb.Booster:
    return lgb.Booster(model_str=model_text)


def booster_for(model_text: str) -> lgb.Booster:
    """A process-wide Booster per model (parsed once, however many batches follow)."""
    return _booster(model_text)


@dataclass(frozen=True)
class CompiledArtifact:
    """A version's compiled forest as scoring loads it: checked against the Booster at
    registration, built for ``target``, and its digest verified after download."""

    version: str
    object_code: bytes
    target: str
    compiler: str


def compiled_artifact_for(settings: Settings, model: ModelRef) -> CompiledArtifact | None:
    """The version's compiled forest if scoring may use it here, else None (the Booster
    scores), with the reason logged: none recorded, refused or failed at registration,
    built for another CPU or compiler, or a download whose digest differs."""
    import hashlib
    import tempfile
    from pathlib import Path

    from nightjar.io import tracking
    from nightjar.promotion.compilation import PASSED, recorded_verdict

    label = f"{model.name} v{model.version}"
    verdict = recorded_verdict(settings, model.name, model.version)
    if verdict is None:
        log.info("%s has no compiled forest (registered without one): the Booster scores", label)
        return None
    if verdict.status != PASSED:
        log.info("%s: %s", label, verdict.summary())
        return None
    here = (compiled_forest.machine_target(), compiled_forest.compiler_version())
    if (verdict.target, verdict.compiler) != here:
        log.info(
            "%s's compiled forest was built for %s with %s; this machine is %s with %s: "
            "the Booster scores",
            label,
            verdict.target,
            verdict.compiler,
            *here,
        )
        return None
    with tempfile.TemporaryDirectory() as tmp:
        local = tracking.download(settings, model.run_id, verdict.artifact_path, Path(tmp))
        object_code = local.read_bytes()
    if hashlib.sha256(object_code).hexdigest() != verdict.artifact_sha256:
        log.error(
            "%s's compiled forest %s does not match the digest recorded at registration "
            "(corrupted or replaced): the Booster scores",
            label,
            verdict.artifact_path,
        )
        return None
    return CompiledArtifact(model.version, object_code, verdict.target, verdict.compiler)


class Predictor:
    """Probabilities for encoded rows: the compiled forest when it is usable here, else the
    Booster. A compiled forest's first ``SELF_CHECK_ROWS`` rows in the process are checked
    against the Booster once more; any disagreement, or a forest that fails to load,
    switches this process to the Booster for good, with the reason logged."""

    def __init__(
        self,
        model_text: str,
        compiled: CompiledArtifact | None,
        *,
        threshold: float,
        threads: int | None,
    ) -> None:
        self.booster = booster_for(model_text)
        self.threshold, self.threads = threshold, threads
        self.forest: compiled_forest.CompiledForest | None = None
        self._checked = False
        if compiled is None:
            return
        if compiled.target != compiled_forest.machine_target():
            log.warning(
                "v%s's compiled forest is for %s, this worker is %s: the Booster scores here",
                compiled.version,
                compiled.target,
                compiled_forest.machine_target(),
            )
            return
        try:
            self.forest = compiled_forest.CompiledForest(model_text, compiled.object_code)
        except Exception as exc:  # any load failure means: the Booster scores
            log.error("v%s's compiled forest failed to load (%s): the Booster scores",
                      compiled.version, exc)  # fmt: skip

    @property
    def label(self) -> str:
        """What ``PREDICTOR_KEY`` records."""
        if self.forest is not None:
            return f"compiled:{compiled_forest.compiler_version()}"
        return f"booster:lightgbm-{lgb.__version__}"

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        if self.forest is None:
            return self.booster.predict(matrix, num_threads=self.threads or 0)
        compiled = self.forest.predict(matrix, threads=self.threads)
        if not self._checked:
            self._checked = True
            sample = slice(0, SELF_CHECK_ROWS)
            agreement = compiled_forest.check_agreement(
                compiled[sample], self.booster.predict(matrix[sample]), threshold=self.threshold
            )
            if not agreement.passed:
                log.error("the compiled forest disagrees with the Booster (%s): the Booster "
                          "scores", agreement.summary())  # fmt: skip
                self.forest = None
                return self.booster.predict(matrix, num_threads=self.threads or 0)
        return compiled


@cache
def predictor_for(
    model_text: str, compiled: CompiledArtifact | None, threshold: float, threads: int | None
) -> Predictor:
    """A process-wide predictor per model and artifact (loaded once, however many batches
    follow; on Spark, once per Python worker)."""
    return Predictor(model_text, compiled, threshold=threshold, threads=threads)


def score_record_batches(
    batches: Iterator[pa.RecordBatch],
    *,
    model_text: str,
    features: list[str],
    categories: Categories,
    threshold: float,
    keep: list[str],
    stamp: dict[str, object],
    compiled: CompiledArtifact | None = None,
    threads: int | None = None,
) -> Iterator[pa.RecordBatch]:
    """Probability and decision for every row, plus the kept columns and lineage stamp."""
    predict = predictor_for(model_text, compiled, threshold, threads)
    for batch in batches:
        if batch.num_rows == 0:
            continue
        probability = predict(encode_batch(batch, features, categories))
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
    compiled: CompiledArtifact | None,
    threads: int | None,
) -> dict:
    return dict(
        model_text=model_text,
        features=config.feature_names,
        categories=categories,
        threshold=config.model.threshold,
        keep=_kept_columns(config),
        stamp=_stamp(model, context),
        compiled=compiled,
        threads=threads,
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
    compiled: CompiledArtifact | None = None,
) -> pa.Table:
    """Score ``score_date``'s features with ``model`` in this process into one table: one
    row per entity with the probability, the decision and the lineage stamp; the schema's
    metadata names the predictor (``PREDICTOR_KEY``). For a canary, which mixes two
    models' tables before the write; ``score_partition`` streams instead."""
    features_uri = catalog_for(settings, config).features
    source = delta_tables.open_table(features_uri)
    if source is None:
        raise MissingInputError(
            f"feature table {features_uri} does not exist; run the feature step"
        )
    delta_tables.note_read(features_uri, source)
    arrow = source.to_pyarrow_table(
        filters=[(FEATURE_DATE, "=", context.score_date)],
        columns=_kept_columns(config) + config.feature_names,
    )
    if arrow.num_rows == 0:
        raise _missing_features(features_uri, context.score_date.isoformat())
    kwargs = _scoring_kwargs(
        config,
        model,
        context,
        categories=categories,
        model_text=model_text,
        compiled=compiled,
        threads=settings.scoring_threads,
    )
    scored = pa.Table.from_batches(list(score_record_batches(iter(arrow.to_batches()), **kwargs)))
    predictor = predictor_for(
        model_text, compiled, config.model.threshold, settings.scoring_threads
    )
    return scored.replace_schema_metadata({PREDICTOR_KEY: predictor.label})


def write_scores_streaming(
    settings: Settings,
    config: DatasetConfig,
    model: ModelRef,
    context: ScoringContext,
    *,
    table: str,
    categories: Categories,
    model_text: str,
    compiled: CompiledArtifact | None = None,
) -> int:
    """The Arrow engine without holding the night in memory: the features partition is
    read batch by batch, each batch scored, and delta-rs writes each while the next is read
    and scored (``delta_tables.replace_partition_from_batches``). The first batch is scored
    before the write starts: it settles the predictor (the compiled forest's self-check),
    which the commit records. Returns the rows written."""
    features_uri = catalog_for(settings, config).features
    if context.score_date not in delta_tables.partition_dates(features_uri, FEATURE_DATE):
        raise _missing_features(features_uri, context.score_date.isoformat())
    kwargs = _scoring_kwargs(
        config, model, context, categories=categories, model_text=model_text,
        compiled=compiled, threads=settings.scoring_threads,
    )  # fmt: skip
    table_of_features = delta_tables.open_table(features_uri)
    delta_tables.note_read(features_uri, table_of_features)
    partition = [(FEATURE_DATE, "=", context.score_date.isoformat())]
    # The commit records the lakeFS commits read before any row is written: one column's
    # pass (dictionary-encoded in Parquet, so cheap).
    commits = pc.unique(
        table_of_features.to_pyarrow_table(partitions=partition, columns=[LAKEFS_COMMIT]).column(
            LAKEFS_COMMIT
        )
    ).to_pylist()

    def scored_batches() -> pa.RecordBatchReader:
        source = table_of_features.to_pyarrow_dataset(partitions=partition).to_batches(
            columns=kwargs["keep"] + config.feature_names
        )
        scored = score_record_batches(iter(source), **kwargs)
        first = next(scored, None)  # scoring it settles the predictor (its self-check)
        if first is None:
            raise _missing_features(features_uri, context.score_date.isoformat())
        return pa.RecordBatchReader.from_batches(first.schema, itertools.chain([first], scored))

    started = [scored_batches()]  # the first attempt's stream, its first batch scored

    def stream() -> pa.RecordBatchReader:
        return started.pop() if started else scored_batches()

    predictor = predictor_for(model_text, compiled, kwargs["threshold"], settings.scoring_threads)
    rows = delta_tables.replace_partition_from_batches(
        settings.table_uri(table),
        stream,
        partition_column=SCORE_DATE,
        value=context.score_date,
        commit_metadata=_scores_metadata(
            commits, [model.version], context, "arrow", predictor.label
        ),
    )
    log.info(
        "scored %d rows for %s with model version %s (%s) into %s",
        rows, context.score_date, model.version, predictor.label, table,
    )  # fmt: skip
    return rows


def _scores_metadata(
    commits: list[str], versions: list[str], context: ScoringContext, engine: str, predictor: str
) -> dict[str, str]:
    """The scores partition's Delta commit metadata: its inputs, models, run, engine and
    predictor."""
    return {
        delta_tables.LAKEFS_COMMIT_KEY: ",".join(sorted(commits)),
        "nightjar.model_version": ",".join(sorted(map(str, versions))),
        "nightjar.dag_run_id": context.dag_run_id,
        "nightjar.score_date": context.score_date.isoformat(),
        "nightjar.scoring_engine": engine,
        PREDICTOR_KEY: predictor,
    }


def write_scores(
    settings: Settings, scored: pa.Table, *, table: str, context: ScoringContext
) -> int:
    """Atomically replace the date's partition of ``table`` with ``scored``; the Delta
    commit records the input commit, the model versions, the DAG run, the engine and the
    predictor (``score_table``'s schema metadata)."""
    commits = pc.unique(scored.column(LAKEFS_COMMIT)).to_pylist()
    versions = pc.unique(scored.column("model_version")).to_pylist()
    predictor = (scored.schema.metadata or {}).get(PREDICTOR_KEY.encode(), b"").decode()
    delta_tables.replace_partition(
        settings.table_uri(table),
        scored,
        partition_column=SCORE_DATE,
        value=context.score_date,
        commit_metadata=_scores_metadata(commits, versions, context, "arrow", predictor),
    )
    log.info(
        "scored %d rows for %s with model version(s) %s (%s) into %s",
        scored.num_rows,
        context.score_date,
        ", ".join(map(str, versions)),
        predictor,
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
    compiled: CompiledArtifact | None = None,
) -> int:
    """The Spark engine: the executors read ``score_date``'s features partition with
    delta-spark, score it with ``mapInArrow`` (``score_record_batches``, one predictor per
    Python worker, each task on one thread) and replace the partition of ``table`` with
    delta-spark. Rows never pass through the driver; it plans the job and sees the distinct
    lakeFS commits only. The commit records the predictor the driver chose; an executor on
    another CPU than the artifact's scores with the Booster and says so in its log."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

    from nightjar.io.spark import get_spark
    from nightjar.io.spark_delta import replace_partition_with_delta_spark

    features_uri = catalog_for(settings, config).features
    if context.score_date not in delta_tables.partition_dates(features_uri, FEATURE_DATE):
        raise _missing_features(features_uri, context.score_date.isoformat())
    if lineage_record.is_recording():  # opening the table reads its log: only when asked
        delta_tables.note_read(features_uri, delta_tables.open_table(features_uri))
    kwargs = _scoring_kwargs(
        config,
        model,
        context,
        categories=categories,
        model_text=model_text,
        compiled=compiled,
        threads=1,
    )
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
    predictor = (
        f"compiled:{compiled.compiler}" if compiled else f"booster:lightgbm-{lgb.__version__}"
    )
    rows = replace_partition_with_delta_spark(
        scored,
        settings.table_uri(table),
        partition_column=SCORE_DATE,
        value=context.score_date,
        commit_metadata=_scores_metadata(commits, [model.version], context, "spark", predictor),
    )
    log.info(
        "scored %d rows for %s with model version %s (%s) into %s on Spark (%s)",
        rows,
        context.score_date,
        model.version,
        predictor,
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
    compiled: CompiledArtifact | None = None,
    engine: str | None = None,
) -> int:
    """Score ``score_date``'s features with ``model`` into ``table`` with ``engine``
    (default: ``settings.scoring_engine``); return the row count."""
    inputs = dict(categories=categories, model_text=model_text, compiled=compiled)
    if (engine or settings.scoring_engine) == "spark":
        return score_partition_on_spark(settings, config, model, context, table=table, **inputs)
    return write_scores_streaming(settings, config, model, context, table=table, **inputs)


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
    predictors = {
        (table.schema.metadata or {}).get(PREDICTOR_KEY.encode(), b"").decode()
        for table in (champion, challenger)
    }
    mixed = pa.concat_tables(
        [served.replace_schema_metadata(None), canary.select(served.column_names)
         .replace_schema_metadata(None)]
    )  # fmt: skip
    return mixed.sort_by(key).replace_schema_metadata(
        {PREDICTOR_KEY: ",".join(sorted(predictors - {""}))}
    )
