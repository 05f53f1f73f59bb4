"""Large outputs: executors write a partition in parallel; nothing passes through the driver.

Two writers, chosen by ``NIGHTJAR_SPARK_WRITER``:

- ``delta-rs`` (``replace_partition_from_spark``): executors write plain Parquet files
  under the table folder, and one Delta commit through delta-rs's transaction API adds
  them and removes the partition's previous files. No JVM Delta: a short-lived local
  driver starts in seconds. Local or mounted warehouses only.
- ``delta-spark`` (``replace_partition_with_delta_spark``): executors write and commit
  with delta-spark's ``replaceWhere``, to any warehouse Spark reaches; needs the pinned
  jars (``nightjar spark fetch-jars``).

Either way readers see the old partition or the new one, and a writer killed before its
commit leaves only unreferenced files (cleared by a Delta VACUUM). Both record the same
commit metadata (the lakeFS commit), and tables stay readable by delta-rs, delta-spark
and DuckDB whichever writer wrote last.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, Schema
from deltalake.transaction import AddAction, create_table_with_add_actions

from nightjar.core import lineage_record
from nightjar.core.names import validate_identifier
from nightjar.io import delta_tables

log = logging.getLogger(__name__)


def local_table_dir(uri: str) -> Path | None:
    """The table's folder when Spark can write into it directly (a local path)."""
    if uri.startswith("file://"):
        return Path(uri.removeprefix("file://"))
    return None if "://" in uri else Path(uri)


def _add_action(table_dir: Path, file: Path, partition_column: str, value: str) -> AddAction:
    stat = file.stat()
    stats = {"numRecords": pq.ParquetFile(file).metadata.num_rows}
    return AddAction(
        str(file.relative_to(table_dir)),
        stat.st_size,
        {partition_column: value},
        int(stat.st_mtime * 1000),
        True,
        json.dumps(stats),
    )


def replace_partition_from_spark(
    frame,
    uri: str,
    *,
    partition_column: str,
    value: dt.date | str,
    commit_metadata: dict[str, str] | None = None,
) -> int:
    """Replace the ``partition_column = value`` partition of the Delta table at ``uri``
    with ``frame`` (a Spark DataFrame), written by the executors; return the row count."""
    column = validate_identifier(partition_column, what="partition column")
    table_dir = local_table_dir(uri)
    if table_dir is None:
        raise ValueError(f"{uri}: Spark writes Delta files only to a local or mounted path here")
    literal = delta_tables.partition_literal(value)
    folder = table_dir / f"{column}={literal}" / f"spark-{uuid.uuid4().hex}"
    spark = frame.sparkSession
    previous = spark.conf.get("spark.sql.parquet.outputTimestampType")
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    try:
        frame.drop(column).write.mode("errorifexists").parquet(str(folder))
    finally:
        spark.conf.set("spark.sql.parquet.outputTimestampType", previous)
    files = sorted(folder.glob("part-*.parquet"))
    adds = [_add_action(table_dir, f, column, literal) for f in files]
    rows = sum(json.loads(a.stats)["numRecords"] for a in adds)
    metadata, write_id = delta_tables.with_write_id(commit_metadata)
    properties = CommitProperties(custom_metadata=metadata)
    existing = delta_tables.open_table(uri)
    if existing is None:
        from pyspark.sql.pandas.types import to_arrow_type

        partition_type = to_arrow_type(frame.schema[column].dataType)
        schema = Schema.from_arrow(
            pq.read_schema(files[0]).append(pa.field(column, partition_type))
        )
        create_table_with_add_actions(
            uri, schema, adds, mode="error", partition_by=[column], commit_properties=properties
        )
    else:
        existing.create_write_transaction(
            adds,
            mode="overwrite",
            schema=existing.schema(),
            partition_by=[column],
            partition_filters=[(column, "=", literal)],
            commit_properties=properties,
        )
    log.info("committed %d Spark-written files, %d rows, to %s (%s)", len(adds), rows, uri, literal)
    delta_tables.note_write(uri, write_id, partition={column: literal}, rows=rows)
    return rows


def replace_partition_with_delta_spark(
    frame,
    uri: str,
    *,
    partition_column: str,
    value: dt.date | str,
    commit_metadata: dict[str, str] | None = None,
) -> int:
    """Replace the ``partition_column = value`` partition of the Delta table at ``uri``
    with ``frame``, written and committed by delta-spark from the executors; return the
    row count, from the commit's own metrics: counting first would compute ``frame`` twice.
    The session must have delta-spark (``Settings.spark_uses_delta``)."""
    column = validate_identifier(partition_column, what="partition column")
    literal = delta_tables.partition_literal(value)
    return replace_where_with_delta_spark(
        frame,
        uri,
        predicate=f"{column} = '{literal}'",
        partition_column=column,
        partition={column: literal},
        commit_metadata=commit_metadata,
    )


# delta-spark's optimistic-concurrency conflicts that a second attempt resolves: writers
# that created the same new table at once, or committed between our read and our commit.
# replaceWhere is idempotent, so trying again is safe.
_RETRYABLE_CONFLICTS = (
    "ProtocolChangedException",
    "MetadataChangedException",
    "ConcurrentAppendException",
    "ConcurrentDeleteReadException",
    "ConcurrentTransactionException",
)
_MAX_WRITE_ATTEMPTS = 5


def replace_where_with_delta_spark(
    frame,
    uri: str,
    *,
    predicate: str,
    partition_column: str,
    partition: dict[str, str] | None = None,
    commit_metadata: dict[str, str] | None = None,
) -> int:
    """Replace the rows matching ``predicate`` (built from validated identifiers and
    literals, e.g. by ``delta_tables.date_range_predicate``) with ``frame`` in one
    delta-spark commit; create the table, partitioned by ``partition_column``, if absent.
    A concurrent writer's conflicting commit (several runs creating the table at once) is
    retried. Return the rows written, read from this write's own commit (found by a write
    id in its metadata: other writers may have committed since)."""
    from py4j.protocol import Py4JJavaError

    metadata, write_id = delta_tables.with_write_id(commit_metadata)
    for attempt in range(1, _MAX_WRITE_ATTEMPTS + 1):
        writer = (
            frame.write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", predicate)
            # delta-spark keeps commit metadata in one string; delta_tables reads it back.
            .option("userMetadata", json.dumps(metadata, sort_keys=True))
        )
        if delta_tables.open_table(uri) is None:
            writer = writer.partitionBy(partition_column)
        try:
            writer.save(uri)
            break
        except Py4JJavaError as exc:
            conflict = next((c for c in _RETRYABLE_CONFLICTS if c in str(exc)), None)
            if conflict is None or attempt == _MAX_WRITE_ATTEMPTS:
                raise
            log.info("%s: %s from a concurrent writer; writing again (%d)", uri, conflict, attempt)
    commit = delta_tables.own_commit(uri, write_id)
    rows = delta_tables.rows_written(commit)
    lineage_record.note_output(
        lineage_record.delta_dataset(
            uri, int(commit["version"]), partition=partition or {"where": predicate}, rows=rows
        )
    )
    log.info("delta-spark replaced %s in %s: %d rows", predicate, uri, rows)
    return rows
