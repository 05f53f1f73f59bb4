"""SQLite as Airflow's metadata database on the embedded stack: transactions that wait.

Airflow writes from the scheduler, the API server, the DAG processor, the triggerer and
any ``airflow`` CLI at once. Python's sqlite3 driver starts a transaction lazily, so one
that reads first (a SAVEPOINT, then SELECTs, as ``airflow backfill create`` does per
date) holds a read snapshot and fails at once with "database is locked" when it then
writes after another process committed: SQLite cannot let it wait, its snapshot is stale.
Seen on 2026-12-01 on the fourth date of a 30-date backfill, with WAL on and a 60 s busy
timeout. SQLAlchemy's documented remedy for pysqlite is to take transaction control from
the driver and begin every transaction with ``BEGIN IMMEDIATE``: it takes the write lock
up front, so a busy database makes it wait (up to the busy timeout) instead of failing.

Airflow imports ``airflow_local_settings`` from ``AIRFLOW_HOME/config`` before it builds
its engines, in every process; ``write_local_settings`` puts a two-line module there
that calls ``begin_immediate``. PostgreSQL needs none of this.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine

MARKER = "# Written by Nightjar (nightjar.airflow_sqlite)"
LOCAL_SETTINGS = f"""{MARKER}: SQLite transactions begin IMMEDIATE.
from nightjar.airflow_sqlite import begin_immediate

begin_immediate()
"""


def _take_transaction_control(dbapi_connection, connection_record) -> None:
    # sqlite3.Connection, or SQLAlchemy's aiosqlite adapter in the API server
    if "sqlite" in type(dbapi_connection).__module__:
        dbapi_connection.isolation_level = None  # the driver stops issuing BEGIN itself


def _begin(connection) -> None:
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def begin_immediate() -> None:
    """Make every SQLite engine in this process begin its transactions IMMEDIATE."""
    if not event.contains(Engine, "begin", _begin):
        event.listen(Engine, "connect", _take_transaction_control)
        event.listen(Engine, "begin", _begin)


def write_local_settings(airflow_home: Path) -> bool:
    """Install the module into ``AIRFLOW_HOME/config``; leave a user's own file alone."""
    path = airflow_home / "config" / "airflow_local_settings.py"
    if path.exists() and not path.read_text().startswith(MARKER):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(LOCAL_SETTINGS)
    return True
