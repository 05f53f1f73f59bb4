"""Raw tables read by Spark's executors through lakeFS's S3 gateway, at one commit.

The driver lists the partitions through the lakeFS SDK (object names, not rows); the
executors read the Parquet objects as ``s3a://<repository>/<commit id>/<path>``. A commit
id, not a branch, so the rows cannot change under a run, whichever executor reads them
and whenever it retries. The session must carry the s3a settings
(``NIGHTJAR_RAW_READER=s3a``; ``nightjar.io.spark``).
"""

from __future__ import annotations

import datetime as dt
import re

import lakefs

from nightjar.core import lineage_record
from nightjar.core.errors import DataValidationError
from nightjar.core.names import validate_repository
from nightjar.io.raw_tables import PARTITION_DATE_COLUMN, list_partitions

_COMMIT_ID = re.compile(r"^[0-9a-f]{6,64}$")


def s3a_uri(repository: str, commit_id: str, path: str) -> str:
    """Where the executors read ``path`` at ``commit_id`` through the S3 gateway."""
    if not _COMMIT_ID.match(commit_id):
        raise ValueError(f"not a lakeFS commit id: {commit_id!r} (reads are pinned to commits)")
    return f"s3a://{validate_repository(repository)}/{commit_id}/{path.lstrip('/')}"


def listed_dates(
    client: lakefs.Client,
    repository: str,
    commit_id: str,
    table_path: str,
    start: dt.date,
    end: dt.date,
) -> dict[dt.date, list[str]]:
    """The partitions dated ``start``..``end`` at the commit, with their object paths."""
    partitions = list_partitions(client, repository, commit_id, table_path)
    return {day: sorted(paths) for day, paths in sorted(partitions.items()) if start <= day <= end}


def read_partitions(spark, repository: str, commit_id: str, partitions: dict[dt.date, list[str]]):
    """A Spark frame of the listed partitions' rows (read by the executors), with their
    date in ``PARTITION_DATE_COLUMN``, as ``raw_tables.read_partitions`` gives it; None
    when nothing is listed. Files whose schemas differ (a column added later) merge."""
    from pyspark.sql import functions as F

    uris = [s3a_uri(repository, commit_id, p) for paths in partitions.values() for p in paths]
    if not uris:
        return None
    for table_path in sorted({p.rsplit("/date=", 1)[0] for ps in partitions.values() for p in ps}):
        lineage_record.note_input(lineage_record.lakefs_dataset(repository, table_path, commit_id))
    from pyspark.errors import AnalysisException

    try:
        frame = spark.read.option("mergeSchema", "true").parquet(*uris)
    except AnalysisException as exc:
        if "TIMESTAMP(NANOS" not in str(exc):
            raise
        raise DataValidationError(
            f"{uris[0].rsplit('/date=', 1)[0]} at {commit_id[:12]} holds nanosecond timestamps, "
            "which Spark cannot read: write raw Parquet with micro- or millisecond timestamps "
            "(pyarrow: coerce_timestamps='us'; Nightjar's ingest does), or use "
            "NIGHTJAR_RAW_READER=lakefs-sdk"
        ) from None
    day = F.regexp_extract(F.col("_metadata.file_path"), r"/date=(\d{4}-\d{2}-\d{2})/", 1)
    return frame.withColumn(PARTITION_DATE_COLUMN, F.to_date(day))
