"""The feature job: raw snapshot in lakeFS -> validated features in Delta.

Used for both scoring (one date) and training (a range of dates), which is what keeps
training and serving features identical. Reads go to the run's pinned commit only.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from nightjar.core.catalog import catalog_for
from nightjar.core.dataset_config import DatasetConfig, SourceTable
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import FEATURE_SPEC, LAKEFS_COMMIT
from nightjar.features.definitions import FEATURE_DATE, compute_features, join_sources, spec_hash
from nightjar.ingest.validation import (
    PARTITION_COLUMN,
    RAW_DTYPES,
    DataValidationError,
    check_freshness,
    check_newest_event,
    refuse_repeated_entities,
    validate_features,
    validate_raw,
)
from nightjar.io import delta_tables, raw_tables
from nightjar.io.lakefs_client import make_client
from nightjar.io.snapshots import Snapshot
from nightjar.io.spark_delta import (
    local_table_dir,
    replace_partition_from_spark,
    replace_partition_with_delta_spark,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureJobResult:
    """What a feature job wrote: the table, its rows, the rows set aside, the feature spec."""

    table_uri: str
    rows: int
    quarantined: int
    feature_spec: str
    lakefs_commit: str


def _validation_arguments(
    config: DatasetConfig, name: str, start: dt.date, end: dt.date, commit_id: str
) -> dict:
    """What both raw validators (pandas and Spark) take for source ``name``'s batch."""
    source = config.sources[name]
    return dict(
        name=name,
        source=source,
        event_time=config.event_time if config.event_time in source.columns else None,
        max_quarantine_share=config.validation.max_quarantine_share,
        batch=f"{start}..{end}@{commit_id[:12]}",
        timezone=config.timezone,
    )


def validate_source(
    config: DatasetConfig,
    name: str,
    frame: pd.DataFrame,
    start: dt.date,
    end: dt.date,
    commit_id: str,
):
    """The source's rules (pandera) on ``start``..``end`` of its raw rows, and the freshness
    of the newest day; returns the valid rows and the rows to quarantine."""
    source = config.sources[name]
    rules = _validation_arguments(config, name, start, end, commit_id)
    batch = validate_raw(frame, **rules)
    if event_time := rules["event_time"]:
        check_freshness(
            batch.valid[batch.valid[PARTITION_COLUMN] == end],
            name=name,
            event_time=event_time,
            batch_date=end,
            freshness_hours=source.freshness_hours,
        )
    return batch


def _load_source(
    settings: Settings,
    config: DatasetConfig,
    snapshot: Snapshot,
    name: str,
    start: dt.date,
    end: dt.date,
    target_start: dt.date,
) -> tuple[pd.DataFrame, int]:
    """Read and validate one raw source; quarantine failing rows of the target dates.

    A required source with no rows for the target dates fails the run; an optional one
    (``required: false``) is logged and joined as it is, so those rows get nulls."""
    if settings.raw_reader == "s3a":
        return _load_source_on_spark(settings, config, snapshot, name, start, end, target_start)
    source = config.sources[name]
    client = make_client(settings)
    table = raw_tables.read_partitions(
        client,
        snapshot.repository,
        snapshot.commit_id,
        source.path,
        start,
        end,
        timezone=config.timezone,
    )
    if table is None or not any(
        target_start <= d <= end for d in table.column(PARTITION_COLUMN).to_pylist()
    ):
        _no_rows(config, name, snapshot, target_start, end)
        if table is None:
            return _empty_source(source), 0
    batch = validate_source(config, name, table.to_pandas(), start, end, snapshot.commit_id)
    # History partitions are re-validated to feed window features, but their rejects
    # belong to the runs that own those dates: record and count only the target dates.
    owned = batch.quarantined[
        batch.quarantined["partition_date"].between(target_start.isoformat(), end.isoformat())
    ]
    _write_quarantine(settings, config, name, owned, target_start, end, snapshot.commit_id)
    valid = history_windows_need(config, name, batch.valid, target_start, end)
    return valid.drop(columns=[PARTITION_COLUMN]), len(owned)


def history_windows_need(
    config: DatasetConfig, name: str, valid: pd.DataFrame, start: dt.date, end: dt.date
) -> pd.DataFrame:
    """The rows of the base source that features of ``start``..``end`` need: the target
    dates', and the history rows that share a window's partition with one of them.

    A window feature aggregates the earlier events of its partition (a customer's
    applications, say), so a history row of any other partition cannot change a target
    row's features. A night of 2,000 rows reads 90 days of history for its windows;
    most of it belongs to entities absent tonight, and Spark would otherwise join and
    window all of it. The rows are already validated: which rows are valid is decided
    on the whole batch, before this choice."""
    from nightjar.core.dataset_config import WindowFeature

    windows = [
        feature.definition
        for feature in config.features.values()
        if isinstance(feature.definition, WindowFeature)
    ]
    columns = config.sources[name].columns
    if (
        name != config.base_source
        or not windows
        or any(column not in columns for w in windows for column in w.partition_by)
    ):
        return valid
    days = pd.to_datetime(valid[PARTITION_COLUMN]).dt.date
    target = days.between(start, end)
    keep = target.copy()
    for window in windows:
        keys = valid.loc[target, window.partition_by].drop_duplicates()
        keep |= (
            valid[window.partition_by]
            .merge(keys, how="left", indicator=True)["_merge"]
            .eq("both")
            .to_numpy()
        )
    return valid[keep.to_numpy()]


def _no_rows(config: DatasetConfig, name: str, snapshot: Snapshot, start: dt.date, end: dt.date):
    """Fail for a required source with no rows for the target dates; log an optional one.
    Either way it is a gap in main's data, and a ``data_gap`` notice: a required source's
    run fails (a scoring run's says so again as ``date_failed``), an optional one's goes on
    with nulls, which nobody would otherwise hear of."""
    from nightjar.core import notices

    source = config.sources[name]
    missing = (
        f"{name}: no rows for {start}..{end} at lakeFS commit "
        f"{snapshot.commit_id[:12]} ({source.path})"
    )
    consequence = (
        "has the batch been ingested?"
        if source.required
        else "it is optional, so its columns are null for those dates"
    )
    span = str(start) if start == end else f"{start}..{end}"
    notices.note(
        notices.Notice(
            "data_gap",
            f"{config.name}: no {name} data on main for {span}",
            f"{missing}; {consequence}",
            {
                "dataset": config.name,
                "model_name": config.model.name,
                "source": name,
                "path": source.path,
                "required": source.required,
                "first_date": start.isoformat(),
                "last_date": end.isoformat(),
                "commit_id": snapshot.commit_id,
            },
        )
    )
    if source.required:
        raise DataValidationError(f"{missing}; {consequence}")
    log.warning("%s; %s", missing, consequence)


def _load_source_on_spark(
    settings: Settings,
    config: DatasetConfig,
    snapshot: Snapshot,
    name: str,
    start: dt.date,
    end: dt.date,
    target_start: dt.date,
):
    """``_load_source`` on the executors (``NIGHTJAR_RAW_READER=s3a``): they read the
    commit's objects through the S3 gateway, validate them and write the target dates'
    quarantine rows with delta-spark; the driver sees object names and counts only."""
    from pyspark.sql import functions as F

    from nightjar.ingest.spark_validation import newest_event, validate_raw_on_spark
    from nightjar.io import spark_raw
    from nightjar.io.spark import get_spark

    source = config.sources[name]
    client = make_client(settings)
    partitions = spark_raw.listed_dates(
        client,
        snapshot.repository,
        snapshot.commit_id,
        source.path,
        start,
        end,
    )
    spark = get_spark(settings)
    if not any(target_start <= day <= end for day in partitions):
        _no_rows(config, name, snapshot, target_start, end)
        if not partitions:
            return spark.createDataFrame([], _spark_schema(source)), 0
    frame = spark_raw.read_partitions(spark, snapshot.repository, snapshot.commit_id, partitions)
    rules = _validation_arguments(config, name, start, end, snapshot.commit_id)
    batch = validate_raw_on_spark(frame, **rules)
    if event_time := rules["event_time"]:
        check_newest_event(
            newest_event(batch.valid, event_time, end),
            name=name,
            event_time=event_time,
            batch_date=end,
            freshness_hours=source.freshness_hours,
        )
    owned = batch.quarantined.where(F.col("partition_date").between(target_start, end))
    set_aside = _write_quarantine_on_spark(
        settings, config, name, owned, target_start, end, snapshot.commit_id
    )
    return batch.valid.drop(PARTITION_COLUMN), set_aside


def _write_quarantine_on_spark(
    settings: Settings,
    config: DatasetConfig,
    name: str,
    quarantined,
    start: dt.date,
    end: dt.date,
    commit_id: str,
) -> int:
    """``_write_quarantine`` with delta-spark, from the executors; returns the rows set aside."""
    from pyspark.sql import functions as F

    from nightjar.io.spark_delta import replace_where_with_delta_spark

    per_day = {row[0]: row[1] for row in quarantined.groupBy("partition_date").count().collect()}
    uri = catalog_for(settings, config).quarantine
    if not per_day and delta_tables.open_table(uri) is None:
        return 0
    replace_where_with_delta_spark(
        quarantined.withColumn("lakefs_commit", F.lit(commit_id)),
        uri,
        predicate=delta_tables.date_range_predicate("partition_date", start, end, {"source": name}),
        partition_column="partition_date",
    )
    for day, rows in sorted(per_day.items()):
        log.warning("%s %s: %d rows quarantined to %s", name, day, rows, uri)
    return sum(per_day.values())


def _spark_schema(source: SourceTable) -> str:
    """The source's declared columns as a Spark DDL schema (dates arrive as timestamps)."""
    types = {"string": "string", "int": "bigint", "float": "double", "bool": "boolean"}
    return ", ".join(
        f"`{column}` {types.get(spec.type, 'timestamp')}" for column, spec in source.columns.items()
    )


def _empty_source(source: SourceTable) -> pd.DataFrame:
    """No rows, with the declared columns and dtypes (Spark cannot infer an empty frame)."""
    return pd.DataFrame(
        {column: pd.Series(dtype=RAW_DTYPES[spec.type]) for column, spec in source.columns.items()}
    )


def _write_quarantine(
    settings: Settings,
    config: DatasetConfig,
    name: str,
    quarantined: pd.DataFrame,
    start: dt.date,
    end: dt.date,
    commit_id: str,
) -> None:
    """Replace source ``name``'s quarantine rows of ``start``..``end`` in one commit (an
    empty range clears what an earlier run of the same dates set aside)."""
    uri = catalog_for(settings, config).quarantine
    if quarantined.empty and delta_tables.open_table(uri) is None:
        return
    frame = quarantined.assign(lakefs_commit=commit_id)
    frame["partition_date"] = pd.to_datetime(frame["partition_date"]).dt.date
    delta_tables.replace_date_range(
        uri,
        pa.Table.from_pandas(frame, preserve_index=False),
        partition_column="partition_date",
        start=start,
        end=end,
        only_where={"source": name},
    )
    for day, rows in frame.groupby("partition_date"):
        log.warning("%s %s: %d rows quarantined to %s", name, day, len(rows), uri)


def build_feature_frame(
    settings: Settings, config: DatasetConfig, snapshot: Snapshot, start: dt.date, end: dt.date
):
    """Spark frame of the (not yet validated) features for events dated ``start``..``end``,
    and the count of raw rows quarantined on the way.

    The frame is cached: the count, the validation (one Spark job per rule on the Spark
    path) and the write all read it, and without the cache each would recompute the
    features from the raw rows (``bench/features.py`` measured the job at 5x the cost of
    computing the features once). The caller unpersists it.
    """
    from pyspark.sql import functions as F

    from nightjar.io.spark import get_spark

    history_start = start - dt.timedelta(days=config.history_days)
    loaded = {
        name: _load_source(settings, config, snapshot, name, history_start, end, start)
        for name in config.sources
        if name != config.label.source
    }
    spark = get_spark(settings)  # after the reads: a missing batch fails without a JVM
    frames = {}
    for name, (valid, _) in loaded.items():
        if not isinstance(valid, pd.DataFrame):
            frames[name] = valid  # read and validated by the executors already
            continue
        # Spark infers a schema from rows; an optional source's empty frame has none.
        schema = _spark_schema(config.sources[name]) if valid.empty else None
        frames[name] = spark.createDataFrame(valid, schema=schema)
    quarantined = sum(set_aside for _, set_aside in loaded.values())
    features = compute_features(config, join_sources(config, frames))
    in_range = features.where(F.col(FEATURE_DATE).between(F.lit(start), F.lit(end)))
    return in_range.cache(), quarantined


def run_feature_job(
    settings: Settings,
    config: DatasetConfig,
    snapshot: Snapshot,
    *,
    start: dt.date,
    end: dt.date,
    table: str,
    partition_column: str,
    partition_value: dt.date | str,
) -> FeatureJobResult:
    """Compute and validate features for ``start``..``end``, and replace one partition of
    ``table``; a validation failure writes nothing."""
    from pyspark.sql import functions as F

    spec = spec_hash(config)
    features, quarantined = build_feature_frame(settings, config, snapshot, start, end)
    stamped = features.withColumn(LAKEFS_COMMIT, F.lit(snapshot.commit_id)).withColumn(
        FEATURE_SPEC, F.lit(spec)
    )
    if partition_column != FEATURE_DATE:
        stamped = stamped.withColumn(partition_column, F.lit(str(partition_value)))
    uri = settings.table_uri(table)
    metadata = {delta_tables.LAKEFS_COMMIT_KEY: snapshot.commit_id}
    try:
        rows = stamped.count()  # the frame is cached: this reads no input again
        delta_spark = settings.spark_writer == "delta-spark"
        large_local = rows >= settings.spark_write_min_rows and local_table_dir(uri) is not None
        if delta_spark or large_local:  # the executors write; no row reaches the driver
            entities = features.select(config.entity_key).distinct().count()
            refuse_repeated_entities(config, rows - entities, rows)
            validate_features(config, features)
            write = (
                replace_partition_with_delta_spark if delta_spark else replace_partition_from_spark
            )
            write(
                stamped.sortWithinPartitions(FEATURE_DATE, config.entity_key),
                uri,
                partition_column=partition_column,
                value=partition_value,
                commit_metadata=metadata,
            )
        else:
            # Sorted in Arrow rather than by a Spark shuffle: the same deterministic order.
            order = [(FEATURE_DATE, "ascending"), (config.entity_key, "ascending")]
            collected = stamped.toArrow().sort_by(order)
            validate_features(config, collected)
            delta_tables.replace_partition(
                uri,
                collected,
                partition_column=partition_column,
                value=partition_value,
                commit_metadata=metadata,
            )
    finally:
        features.unpersist()
    log.info(
        "wrote %d feature rows for %s..%s to %s (%s=%s, spec %s)",
        rows,
        start,
        end,
        uri,
        partition_column,
        partition_value,
        spec,
    )
    return FeatureJobResult(
        table_uri=uri,
        rows=rows,
        quarantined=quarantined,
        feature_spec=spec,
        lakefs_commit=snapshot.commit_id,
    )
