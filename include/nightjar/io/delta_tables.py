"""Delta tables through delta-rs: atomic, idempotent partition writes and reads.

A date's partition is replaced with one Delta commit (a predicate overwrite): readers see
the old partition or the new one, never a mix, and a killed writer leaves only
unreferenced files behind. Concurrent writers to different dates conflict at most on
the log entry number, and retry.

Tables live on a local or object-store path, or in lakeFS (``lakefs://repo/branch/path``,
delta-rs's native mode): there each write is committed on a transaction branch and merged
into the branch; two writers that race on the same ``_delta_log`` entry get a merge
conflict, and the loser retries on a fresh transaction branch from the new head.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError
from pyarrow.parquet import filters_to_expression

from nightjar.core import lineage_record
from nightjar.core.errors import InvalidNameError
from nightjar.core.names import validate_identifier

log = logging.getLogger(__name__)
_MAX_COMMIT_ATTEMPTS = 8
_PARTITION_VALUE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# Commit metadata key: the lakeFS commit the written rows were computed from.
LAKEFS_COMMIT_KEY = "nightjar.lakefs_commit"
# Commit metadata key on every Nightjar write: a unique id, so a writer finds its own commit
# (its version, its row count) whatever other writers committed since.
WRITE_ID_KEY = "nightjar.write_id"


def storage_options(uri: str) -> dict[str, str] | None:
    """How to reach the table's storage: lakeFS credentials for ``lakefs://`` URIs."""
    if not uri.startswith("lakefs://"):
        return None
    from nightjar.core.settings import load_settings
    from nightjar.io.lakefs_client import delta_storage_options

    return delta_storage_options(load_settings())


def _with_commit_retry(write, *, what: str) -> None:
    for attempt in range(1, _MAX_COMMIT_ATTEMPTS + 1):
        try:
            write()
            return
        except CommitFailedError as exc:
            if attempt == _MAX_COMMIT_ATTEMPTS:
                raise
            log.info("%s: concurrent commit (%s); retrying (%d)", what, exc, attempt)
            time.sleep(0.05 * 2**attempt)


def partition_literal(value: dt.date | str) -> str:
    """The partition value as text safe inside a predicate: a date, or a plain token."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if not _PARTITION_VALUE.match(value):
        raise InvalidNameError(f"invalid partition value {value!r}")
    return value


def _overwrite_where(
    uri: str,
    data: pa.Table,
    *,
    column: str,
    predicate: str,
    allowed: set[str],
    target_file_size: int | None,
    partition: dict[str, str],
    commit_metadata: dict[str, str] | None = None,
) -> None:
    """One atomic overwrite of the rows matching ``predicate`` (built from validated
    values only), refusing ``data`` with rows outside it; noted for lineage as a write of
    ``partition``."""
    present = (
        {str(v) for v in pc.unique(data.column(column)).to_pylist()} if data.num_rows else set()
    )
    if not present <= allowed:
        raise ValueError(f"rows written to {uri} fall outside {predicate}")

    def write() -> None:
        write_deltalake(
            uri,
            data,
            mode="overwrite",
            predicate=predicate,
            partition_by=[column],
            schema_mode="merge",
            target_file_size=target_file_size,
            commit_properties=CommitProperties(custom_metadata=metadata),
            storage_options=storage_options(uri),
        )

    metadata, write_id = with_write_id(commit_metadata)
    _with_commit_retry(write, what=f"replace {uri} where {predicate}")
    note_write(uri, write_id, partition=partition, rows=data.num_rows)


def replace_partition(
    uri: str,
    data: pa.Table,
    *,
    partition_column: str,
    value: dt.date | str,
    target_file_size: int | None = None,
    commit_metadata: dict[str, str] | None = None,
) -> None:
    """Atomically replace the rows where ``partition_column = value`` with ``data``.

    ``target_file_size`` (bytes) splits a large partition into several data files.
    ``commit_metadata`` is recorded in the Delta commit (see ``version_with_metadata``).
    """
    column = validate_identifier(partition_column, what="partition column")
    literal = partition_literal(value)
    _overwrite_where(
        uri,
        data,
        column=column,
        predicate=f"{column} = '{literal}'",
        allowed={literal},
        target_file_size=target_file_size,
        partition={column: literal},
        commit_metadata=commit_metadata,
    )


def replace_partition_with_row(
    uri: str, row: dict[str, object], *, partition_column: str, schema: pa.Schema | None = None
) -> None:
    """Replace the partition of ``row``'s ``partition_column`` value with that one row: the
    per-date summary tables (one row a night, replaced on a re-run)."""
    replace_partition(
        uri,
        pa.Table.from_pylist([row], schema=schema),
        partition_column=partition_column,
        value=row[partition_column],
    )


def replace_partition_from_batches(
    uri: str,
    batches: Callable[[], pa.RecordBatchReader],
    *,
    partition_column: str,
    value: dt.date | str,
    commit_metadata: dict[str, str] | None = None,
) -> int:
    """``replace_partition`` for data that arrives as a stream: delta-rs encodes and writes
    each batch while the next is computed, so reading, computing and writing overlap, and
    the partition is never held whole in memory. ``batches`` makes a fresh stream per
    attempt (a commit that loses to a concurrent writer is written again). A batch with a
    row outside the partition fails the write before its commit. Returns the rows written.
    """
    column = validate_identifier(partition_column, what="partition column")
    literal = partition_literal(value)
    written = 0

    def checked() -> pa.RecordBatchReader:
        nonlocal written
        written = 0
        reader = batches()

        def each() -> Iterator[pa.RecordBatch]:
            nonlocal written
            for batch in reader:
                values = pc.unique(batch.column(column)).to_pylist()
                if any(partition_literal(v) != literal for v in values):
                    raise ValueError(f"rows written to {uri} fall outside {column} = '{literal}'")
                written += batch.num_rows
                yield batch

        return pa.RecordBatchReader.from_batches(reader.schema, each())

    def write() -> None:
        write_deltalake(
            uri,
            checked(),
            mode="overwrite",
            predicate=f"{column} = '{literal}'",
            partition_by=[column],
            schema_mode="merge",
            commit_properties=CommitProperties(custom_metadata=metadata),
            storage_options=storage_options(uri),
        )

    metadata, write_id = with_write_id(commit_metadata)
    _with_commit_retry(write, what=f"replace {uri} where {column} = '{literal}'")
    note_write(uri, write_id, partition={column: literal}, rows=written)
    return written


def date_range_predicate(
    partition_column: str, start: dt.date, end: dt.date, only_where: dict[str, str] | None = None
) -> str:
    """The SQL predicate of dates ``start``..``end`` (and ``only_where``'s column values),
    from validated identifiers and literals: what delta-rs and delta-spark replace."""
    column = validate_identifier(partition_column, what="partition column")
    predicate = f"{column} >= '{start.isoformat()}' AND {column} <= '{end.isoformat()}'"
    for name, value in (only_where or {}).items():
        other = validate_identifier(name, what="column")
        predicate += f" AND {other} = '{partition_literal(value)}'"
    return predicate


def replace_date_range(
    uri: str,
    data: pa.Table,
    *,
    partition_column: str,
    start: dt.date,
    end: dt.date,
    only_where: dict[str, str] | None = None,
) -> None:
    """Atomically replace every date partition from ``start`` to ``end``, in one commit.

    ``only_where`` narrows the replacement to rows with those column values (say, one
    source's rows of a shared table); every row of ``data`` must carry them.
    """
    column = validate_identifier(partition_column, what="partition column")
    days = {(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)}
    predicate = date_range_predicate(column, start, end, only_where)
    for name, value in (only_where or {}).items():
        literal = partition_literal(value)
        if data.num_rows and pc.any(pc.not_equal(data.column(name), literal)).as_py():
            raise ValueError(f"rows written to {uri} must all have {name} = {literal!r}")
    _overwrite_where(
        uri,
        data,
        column=column,
        predicate=predicate,
        allowed=days,
        target_file_size=None,
        partition={column: f"{start}..{end}", **(only_where or {})},
    )


def append(uri: str, data: pa.Table, *, partition_by: list[str] | None = None) -> None:
    """Append ``data`` to the table in one commit, retrying a concurrent-commit conflict."""
    metadata, write_id = with_write_id(None)
    _with_commit_retry(
        lambda: write_deltalake(
            uri,
            data,
            mode="append",
            partition_by=partition_by,
            schema_mode="merge",
            commit_properties=CommitProperties(custom_metadata=metadata),
            storage_options=storage_options(uri),
        ),
        what=f"append to {uri}",
    )
    note_write(uri, write_id, partition=None, rows=data.num_rows)


def with_write_id(commit_metadata: dict[str, str] | None) -> tuple[dict[str, str], str]:
    """``commit_metadata`` plus a fresh ``WRITE_ID_KEY``, and that id."""
    write_id = uuid.uuid4().hex
    return {**(commit_metadata or {}), WRITE_ID_KEY: write_id}, write_id


def own_commit(uri: str, write_id: str, *, search: int = 100) -> dict:
    """The commit of ``uri`` that recorded ``write_id`` (among the newest ``search``), as
    ``DeltaTable.history()`` gives it; raises ValueError when none did."""
    for commit in open_table(uri).history(search):  # newest first
        if commit_metadata(commit).get(WRITE_ID_KEY) == write_id:
            return commit
    raise ValueError(f"{uri}: no commit among the newest {search} records write {write_id}")


def note_write(uri: str, write_id: str, *, partition: dict[str, str] | None, rows: int) -> None:
    """Note this write for the step's lineage: the table version its commit created, the
    partition it replaced, its rows. Reads the log only while a step is recording; a
    version it cannot find is noted as unknown rather than failing the landed write."""
    if not lineage_record.is_recording():
        return
    try:
        version = int(own_commit(uri, write_id)["version"])
    except Exception as exc:  # lineage never fails a write that landed
        log.warning("lineage: %s; noting the write without its version", exc)
        version = None
    lineage_record.note_output(
        lineage_record.delta_dataset(uri, version, partition=partition, rows=rows)
    )


def note_read(uri: str, table: DeltaTable) -> None:
    """Note a read of ``table`` (opened from ``uri``) at its version, for the step's lineage."""
    lineage_record.note_input(lineage_record.delta_dataset(uri, table.version()))


def version_with_metadata(uri: str, key: str, value: str) -> int | None:
    """The newest table version whose commit recorded ``key`` = ``value`` (or, for values
    of 7+ characters, a value starting with it: a short lakeFS commit id)."""
    table = open_table(uri)
    if table is None:
        return None
    for commit in table.history():  # newest first
        recorded = str(commit_metadata(commit).get(key, ""))
        if recorded == value or (len(value) >= 7 and recorded.startswith(value)):
            return int(commit["version"])
    return None


def rows_written(commit: dict) -> int:
    """The rows a commit wrote, from the metrics its writer recorded (delta-spark records
    ``numOutputRows``, delta-rs ``num_added_rows``)."""
    metrics = commit.get("operationMetrics") or {}
    for name in ("numOutputRows", "num_added_rows"):
        if name in metrics:
            return int(metrics[name])
    raise ValueError(f"commit {commit['version']} records no row count")


def commit_metadata(commit: dict) -> dict:
    """The metadata a writer recorded on a commit of ``DeltaTable.history()``: delta-rs
    keeps each key at the top level, delta-spark one JSON string in ``userMetadata``."""
    try:
        recorded = json.loads(commit.get("userMetadata") or "{}")
    except ValueError:
        recorded = {}
    if not isinstance(recorded, dict):
        recorded = {}
    return {**commit, **recorded}


def partition_dates(uri: str, column: str) -> set[dt.date]:
    """The dates of a date-partitioned table's partitions (none if the table is absent),
    from its Delta log alone."""
    table = open_table(uri)
    if table is None:
        return set()
    return {dt.date.fromisoformat(part[column]) for part in table.partitions() if part[column]}


def partition_summaries(
    uri: str, column: str, first: dt.date, last: dt.date, stats: tuple[str, ...] = ()
) -> dict[dt.date, dict]:
    """For each date partition from ``first`` to ``last``: its row count and, for each column
    in ``stats``, the distinct values its files' min/max statistics show. Read from the Delta
    log alone, however many rows the partitions hold; a file without statistics adds no
    value. delta-spark cuts string statistics to 32 characters: read long identifiers from
    ``partition_commits`` instead."""
    table = open_table(uri)
    if table is None:
        return {}
    actions = pa.table(table.get_add_actions(flatten=True))
    summaries: dict[dt.date, dict] = {}
    names = set(actions.column_names)
    for action in actions.to_pylist():
        day = action.get(f"partition.{column}")
        if isinstance(day, str):
            day = dt.date.fromisoformat(day)
        if day is None or not first <= day <= last:
            continue
        summary = summaries.setdefault(day, {"rows": 0, **{s: set() for s in stats}})
        summary["rows"] += int(action.get("num_records") or 0)
        for stat in stats:
            for bound in ("min", "max"):
                value = action.get(f"{bound}.{stat}") if f"{bound}.{stat}" in names else None
                if value is not None:
                    summary[stat].add(str(value))
    return summaries


def partition_commits(
    uri: str, column: str, first: dt.date, last: dt.date, *, search: int = 1000
) -> dict[dt.date, dict]:
    """For each date partition from ``first`` to ``last``: the metadata of the newest commit
    that replaced it (its predicate names the date; delta-rs and delta-spark both record
    it), from the table's history alone. Full values, unlike file statistics, which
    delta-spark cuts to 32 characters. Only the newest ``search`` commits are read."""
    table = open_table(uri)
    if table is None:
        return {}
    pattern = re.compile(rf"{re.escape(column)} = '(\d{{4}}-\d{{2}}-\d{{2}})'")
    found: dict[dt.date, dict] = {}
    for commit in table.history(search):  # newest first
        predicate = str((commit.get("operationParameters") or {}).get("predicate", ""))
        for match in pattern.finditer(predicate):
            day = dt.date.fromisoformat(match[1])
            if first <= day <= last:
                found.setdefault(day, commit_metadata(commit))
    return found


def column_names(uri: str) -> list[str]:
    """The columns of the table at ``uri`` (none if it does not exist), from its log."""
    table = open_table(uri)
    return [] if table is None else [field.name for field in table.schema().fields]


def open_table(uri: str, version: int | None = None) -> DeltaTable | None:
    """The Delta table at ``uri`` (at ``version``), or None if it does not exist yet."""
    try:
        return DeltaTable(uri, version=version, storage_options=storage_options(uri))
    except TableNotFoundError:
        return None


def read(
    uri: str, filters: list[tuple] | None = None, columns: list[str] | None = None
) -> pa.Table | None:
    """Rows of the table at ``uri`` matching ``filters`` (partitions pruned), or None if it
    does not exist."""
    table = open_table(uri)
    if table is None:
        return None
    note_read(uri, table)
    if not filters:
        return table.to_pyarrow_table(columns=columns)
    # The filters also choose the files: listing every partition of a long table costs
    # more than reading the one a filter names.
    dataset = table.to_pyarrow_dataset(file_pruning_predicate=filters)
    return dataset.to_table(columns=columns, filter=filters_to_expression(filters))
