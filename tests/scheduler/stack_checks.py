"""Checks shared by the embedded and the production-shaped stack: what a user would look
at after running the main job through the scheduler."""

from __future__ import annotations

import datetime as dt
import hashlib

import psutil
import pyarrow as pa
import pyarrow.compute as pc

from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import PROBABILITY
from nightjar.embedded import demo_data
from nightjar.embedded.airflow_api import AirflowAPI
from nightjar.io import delta_tables

from .conftest import UserShell, processes_of


def listening_sockets(
    shell: UserShell, ports: set[int] = frozenset()
) -> list[tuple[str, int, str]]:
    """(address, port, process) of every listening TCP socket of what ``shell`` started,
    and of any process listening on ``ports`` (services started outside it)."""
    pids = set(processes_of(shell))
    sockets = []
    for conn in psutil.net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN and (conn.pid in pids or conn.laddr.port in ports):
            sockets.append((conn.laddr.ip, conn.laddr.port, psutil.Process(conn.pid).name()))
    return sockets


def scored_partitions(settings: Settings, config: DatasetConfig) -> dict[dt.date, pa.Table]:
    """The scores table by date, read the way an analyst's reader does (Delta snapshot)."""
    table = delta_tables.read(settings.table_uri(config.table_name("scores")))
    assert table is not None, "no scores table"
    return {
        day: table.filter(pc.equal(table["score_date"], pa.scalar(day, pa.date32())))
        for day in sorted(set(table["score_date"].to_pylist()))
    }


def partition_digest(partition: pa.Table, key: str, columns: list[str] | None = None) -> str:
    """Content digest of a partition, independent of row and file order: of ``columns``,
    or of every column but ``scored_at`` (the wall-clock time of the write, which a rerun
    changes by design)."""
    kept = columns or [name for name in partition.column_names if name != "scored_at"]
    ordered = partition.select(kept).sort_by([(key, "ascending")])
    return hashlib.sha256(str(ordered.to_pydict()).encode()).hexdigest()


def raw_rows(day: dt.date, spec: demo_data.DemoSpec) -> int:
    """How many applications the demo landed for ``day``."""
    return len(demo_data.applications_for(day, spec))


def quarantined_rows(settings: Settings, config: DatasetConfig, day: dt.date) -> int:
    table = delta_tables.read(
        settings.table_uri(config.quarantine_table),
        filters=[("partition_date", "=", day), ("source", "=", "applications")],
    )
    return 0 if table is None else table.num_rows


def drift_rows_per_date(settings: Settings, config: DatasetConfig) -> dict[dt.date, int]:
    """How many prediction-drift rows each monitored date has (exactly one expected)."""
    table = delta_tables.read(settings.table_uri(config.table_name("drift_metrics")))
    assert table is not None, "no drift table"
    frame = table.to_pandas()
    return frame[frame["feature"] == PROBABILITY].groupby("score_date").size().to_dict()


def runs_in_order(api: AirflowAPI, dag_ids: tuple[str, ...]) -> list[dict]:
    """Every run of ``dag_ids``, in the order the scheduler started them."""
    runs = [run for dag_id in dag_ids for run in api.runs(dag_id)]
    return sorted(runs, key=lambda run: run["start_date"] or run["queued_at"] or "")
