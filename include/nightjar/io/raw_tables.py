"""Raw tables in lakeFS: daily Parquet partitions ``<path>/date=YYYY-MM-DD/part-0.parquet``.

Readers take a commit id, never a branch, so what they return cannot change under them.
"""

from __future__ import annotations

import datetime as dt
import io
import re

import lakefs
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nightjar.core import lineage_record
from nightjar.io.lakefs_client import call_with_retry

_PARTITION = re.compile(r"/date=(\d{4}-\d{2}-\d{2})/")
PARTITION_DATE_COLUMN = "_partition_date"
"""The column readers add: the date of the partition each row was read from."""


def partition_date(path: str) -> dt.date | None:
    """The date of the partition an object path lies in, if it lies in one."""
    match = _PARTITION.search(path)
    return dt.date.fromisoformat(match.group(1)) if match else None


def partition_path(table_path: str, day: dt.date) -> str:
    """The object path of a raw source's partition for ``day``."""
    return f"{table_path}/date={day.isoformat()}/part-0.parquet"


def write_partition(
    client: lakefs.Client,
    repository: str,
    branch: str,
    table_path: str,
    day: dt.date,
    frame: pd.DataFrame,
) -> str:
    """Stage one day's rows on ``branch``, replacing that day's partition if present."""
    buffer = io.BytesIO()
    # Microsecond timestamps: Spark (the s3a reader) cannot read nanosecond ones, and a
    # value with sub-microsecond precision fails here rather than losing it.
    pq.write_table(
        pa.Table.from_pandas(frame, preserve_index=False), buffer, coerce_timestamps="us"
    )
    path = partition_path(table_path, day)
    obj = lakefs.Repository(repository, client=client).branch(branch).object(path)
    call_with_retry(client, lambda: obj.upload(buffer.getvalue(), mode="wb"), what=f"upload {path}")
    return path


def list_partitions(
    client: lakefs.Client, repository: str, commit_id: str, table_path: str
) -> dict[dt.date, list[str]]:
    """Every date partition of a table at a commit, with its object paths."""
    ref = lakefs.Repository(repository, client=client).ref(commit_id)
    objects = call_with_retry(
        client, lambda: list(ref.objects(prefix=f"{table_path}/date=")), what=f"list {table_path}"
    )
    partitions: dict[dt.date, list[str]] = {}
    for obj in objects:
        day = partition_date(obj.path)
        if day and obj.path.endswith(".parquet"):
            partitions.setdefault(day, []).append(obj.path)
    return partitions


def read_partitions(
    client: lakefs.Client,
    repository: str,
    commit_id: str,
    table_path: str,
    start: dt.date,
    end: dt.date,
    *,
    timezone: str = "UTC",
) -> pa.Table | None:
    """Rows of the partitions dated ``start``..``end`` inclusive at ``commit_id``
    (``timezone``: the dataset's, should partitions disagree on a column's time zone).

    Returns None when no partition in the range exists. Each table gets a
    ``PARTITION_DATE_COLUMN`` so callers can check freshness and lineage.
    """
    ref = lakefs.Repository(repository, client=client).ref(commit_id)
    lineage_record.note_input(lineage_record.lakefs_dataset(repository, table_path, commit_id))
    tables = []
    for day, paths in sorted(list_partitions(client, repository, commit_id, table_path).items()):
        if not start <= day <= end:
            continue
        for path in sorted(paths):
            payload = call_with_retry(
                client, lambda p=path: ref.object(p).reader(mode="rb").read(), what=f"read {path}"
            )
            table = pq.read_table(io.BytesIO(payload))
            tables.append(
                table.append_column(
                    PARTITION_DATE_COLUMN, pa.array([day] * table.num_rows, pa.date32())
                )
            )
    if not tables:
        return None
    return pa.concat_tables(_one_timestamp_type(tables, timezone), promote_options="default")


def _one_timestamp_type(tables: list[pa.Table], timezone: str) -> list[pa.Table]:
    """The tables with each timestamp column in one type: partitions landed before
    ingest stored one type per column may hold a column with a time zone in one file and
    without in another, which cannot be concatenated. An instant becomes the wall clock of
    ``timezone`` (the dataset's), as ingest now stores it; a naive value already is one."""
    zoned = {
        field.name
        for table in tables
        for field in table.schema
        if pa.types.is_timestamp(field.type) and field.type.tz is not None
    }
    naive = {
        field.name
        for table in tables
        for field in table.schema
        if pa.types.is_timestamp(field.type) and field.type.tz is None
    }
    mixed = zoned & naive
    if not mixed:
        return tables
    unified = []
    for table in tables:
        for name in mixed:
            index = table.schema.get_field_index(name)
            column = table.column(index)
            if column.type.tz is not None:
                local = pc.local_timestamp(column.cast(pa.timestamp(column.type.unit, tz=timezone)))
                table = table.set_column(index, name, local)
        unified.append(table)
    return unified
