"""Analysts' access: DuckDB over the Delta tables, each registered as a view by name.

Views are Arrow datasets over delta-rs snapshots, so DuckDB pushes filters down and
reads only the partitions a query needs. Any table can be pinned to an older Delta
version for time travel.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
from deltalake import DeltaTable

from nightjar.names import validate_identifier
from nightjar.settings import Settings


def table_names(settings: Settings) -> list[str]:
    """Delta tables in the local warehouse (every folder with a ``_delta_log``)."""
    root = Path(settings.warehouse)
    if not root.is_dir():
        return []
    return sorted(p.parent.name for p in root.glob("*/_delta_log"))


def connect(
    settings: Settings,
    versions: dict[str, int] | None = None,
    only: set[str] | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per Delta table.

    ``versions`` pins tables to a Delta version (time travel); ``only`` limits the views to
    the tables a caller needs, since opening each table reads its log.
    """
    versions = versions or {}
    names = table_names(settings)
    unknown = set(versions) - set(names)
    if unknown:
        raise KeyError(f"no such table(s) to pin: {sorted(unknown)}")
    connection = duckdb.connect()
    for name in names:
        if only is not None and name not in only:
            continue
        table = DeltaTable(settings.table_uri(name), version=versions.get(name))
        connection.register(
            validate_identifier(name, what="table name"), table.to_pyarrow_dataset()
        )
    _add_friendly_views(
        settings, connection, names if only is None else [n for n in names if n in only]
    )
    return connection


def _add_friendly_views(settings: Settings, connection, names: list[str]) -> None:
    """Short names for the configured dataset's tables: ``scores`` for
    ``scores_credit_default``, ``drift_metrics`` for ``drift_metrics_credit_default``..."""
    from nightjar.dataset_config import ConfigError, load_dataset_config

    try:
        suffix = f"_{load_dataset_config(settings.dataset_config).name}"
    except ConfigError:
        return
    for name in names:
        short = name.removesuffix(suffix)
        if short != name and short not in names:
            connection.execute(f"CREATE VIEW {short} AS SELECT * FROM {name}")


def run_query(settings: Settings, sql: str, versions: dict[str, int] | None = None):
    """Run read-only SQL and return a pandas frame."""
    return connect(settings, versions).execute(sql).fetchdf()
