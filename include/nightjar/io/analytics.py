"""Analysts' access: DuckDB over the Delta tables, each registered as a view by name.

Views are Arrow datasets over delta-rs snapshots, so DuckDB pushes filters down and
reads only the partitions a query needs. Any table can be pinned to an older Delta
version for time travel, or to the version written from a lakeFS commit: scoring and
feature writes record the commit of their inputs in the Delta commit's metadata.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb

from nightjar.core.errors import InvalidNameError, MissingInputError
from nightjar.core.names import validate_identifier
from nightjar.core.settings import Settings
from nightjar.io import delta_tables


def table_names(settings: Settings) -> list[str]:
    """Delta tables in the warehouse (every folder with a ``_delta_log``), on local disk
    or in lakeFS."""
    if settings.warehouse.startswith("lakefs://"):
        return _lakefs_table_names(settings)
    if "://" not in settings.warehouse:
        root = Path(settings.warehouse)
        return sorted(p.parent.name for p in root.glob("*/_delta_log")) if root.is_dir() else []
    return _object_store_table_names(settings.warehouse)


def _object_store_table_names(warehouse: str) -> list[str]:
    """Tables under an ``s3://``-style warehouse, listed through pyarrow's filesystems
    (credentials from the usual ``AWS_*`` environment)."""
    from pyarrow import fs

    filesystem, root = fs.FileSystem.from_uri(warehouse)
    folders = filesystem.get_file_info(fs.FileSelector(root, allow_not_found=True))
    logs = filesystem.get_file_info(
        [f"{f.path}/_delta_log" for f in folders if f.type == fs.FileType.Directory]
    )
    return sorted(log.path.rsplit("/", 2)[-2] for log in logs if log.type == fs.FileType.Directory)


def _lakefs_table_names(settings: Settings) -> list[str]:
    """Folders under the warehouse prefix in lakeFS that hold a ``_delta_log``."""
    import lakefs

    from nightjar.io.lakefs_client import call_with_retry, make_client

    client = make_client(settings)
    repository, ref, prefix = settings.warehouse.removeprefix("lakefs://").split("/", 2)
    tree = lakefs.Repository(repository, client=client).ref(ref)

    def listing(under: str, **kwargs) -> list:
        return call_with_retry(
            client, lambda: list(tree.objects(prefix=under, **kwargs)), what=f"list {under}"
        )

    folders = listing(f"{prefix.rstrip('/')}/", delimiter="/")
    return sorted(
        folder.path.rstrip("/").rsplit("/", 1)[-1]
        for folder in folders
        if listing(f"{folder.path}_delta_log/", max_amount=1)
    )


_COMMIT_ID = re.compile(r"^[0-9a-f]{7,64}$")


def versions_at_commits(settings: Settings, commits: dict[str, str]) -> dict[str, int]:
    """Each table's newest Delta version written from the given lakeFS commit (or prefix)."""
    versions = {}
    for name, commit in commits.items():
        if not _COMMIT_ID.match(commit):
            raise InvalidNameError(f"{commit!r} is not a lakeFS commit id (7-64 hex characters)")
        version = delta_tables.version_with_metadata(
            settings.table_uri(name), delta_tables.LAKEFS_COMMIT_KEY, commit
        )
        if version is None:
            raise MissingInputError(
                f"no version of {name} was written from lakeFS commit {commit} "
                "(`nightjar data log` lists the commits)"
            )
        versions[name] = version
    return versions


def connect(
    settings: Settings,
    versions: dict[str, int] | None = None,
    only: set[str] | None = None,
    since: dict[str, tuple[str, dt.date]] | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per Delta table.

    ``versions`` pins tables to a Delta version (time travel); ``only`` limits the views to
    the tables a caller needs, since opening each table reads its log; ``since`` limits a
    table's view to the partitions from a date on (table: (date column, first date)):
    listing a year of partitions costs more than reading a month of them.
    """
    versions = versions or {}
    names = table_names(settings)
    unknown = set(versions) - set(names)
    if unknown:
        raise MissingInputError(
            f"no such table(s) to pin: {', '.join(sorted(unknown))} "
            "(`nightjar query --tables` lists them)"
        )
    connection = duckdb.connect()
    for name in names:
        if only is not None and name not in only:
            continue
        table = delta_tables.open_table(settings.table_uri(name), version=versions.get(name))
        if table is None:
            continue
        window = (since or {}).get(name)
        pruning = None
        if window is not None:
            column, first = window
            pruning = [(validate_identifier(column, what="column"), ">=", first.isoformat())]
        connection.register(
            validate_identifier(name, what="table name"),
            table.to_pyarrow_dataset(file_pruning_predicate=pruning),
        )
    _add_friendly_views(
        settings, connection, names if only is None else [n for n in names if n in only]
    )
    return connection


def _add_friendly_views(settings: Settings, connection, names: list[str]) -> None:
    """Short names for the selected dataset's tables (``--dataset``, or the only one):
    ``scores`` for ``scores_credit_default``, ``drift_metrics`` for
    ``drift_metrics_credit_default``... With several datasets and none selected, only the
    full names."""
    from nightjar.core.datasets import selected_dataset

    dataset = selected_dataset(settings)
    if dataset is None:
        return
    suffix = f"_{dataset}"
    for name in names:
        short = name.removesuffix(suffix)
        if short != name and short not in names:
            connection.execute(f"CREATE VIEW {short} AS SELECT * FROM {name}")


def run_query(settings: Settings, sql: str, versions: dict[str, int] | None = None):
    """Run read-only SQL and return a pandas frame."""
    return connect(settings, versions).execute(sql).fetchdf()
