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
its engines, in every process; ``write_local_settings`` puts a two-line module there that
calls ``begin_immediate``, which acts in ``airflow backfill`` processes only and on
Airflow's database file only. Both limits were learnt the hard way: on every SQLite
engine it made MLflow's store in the tasks fail, in the components it stalled the
scheduler, and ``airflow db migrate`` deadlocked on its own migration lock.
PostgreSQL needs none of this.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine

MARKER = "# Written by Nightjar (nightjar.embedded.airflow_sqlite)"


def _local_settings(database: Path) -> str:
    return f"""{MARKER}: Airflow's SQLite transactions begin IMMEDIATE.
from nightjar.embedded.airflow_sqlite import begin_immediate

begin_immediate({str(database)!r})
"""


# Only the commands seen failing this way. Begun IMMEDIATE, the long-running components
# (and the task processes they fork) stalled the scheduler with sessions held across their
# loops, and `airflow db migrate` deadlocked on its own migration lock.
COMMANDS = {"backfill"}


def begin_immediate(database: str | Path, argv: list[str] | None = None) -> bool:
    """In an ``airflow backfill ...`` process, make every transaction on the SQLite file
    ``database`` begin IMMEDIATE; return whether it did. Other commands, Airflow's
    components and other databases (MLflow's SQLite store, say) are left alone."""
    argv = sys.argv if argv is None else argv
    if len(argv) < 2 or argv[1] not in COMMANDS:
        return False
    path = os.path.realpath(database)

    def ours(filename: object) -> bool:
        return isinstance(filename, str) and os.path.realpath(filename) == path

    def take_transaction_control(dialect, connection_record, cargs, cparams) -> None:
        if dialect.name == "sqlite" and cargs and ours(cargs[0]):
            cparams["isolation_level"] = None  # the driver stops issuing BEGIN itself

    def begin(connection) -> None:
        if connection.dialect.name == "sqlite" and ours(connection.engine.url.database):
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(Engine, "do_connect", take_transaction_control)
    event.listen(Engine, "begin", begin)
    return True


def write_local_settings(airflow_home: Path, database: Path) -> bool:
    """Install the module into ``AIRFLOW_HOME/config``; leave a user's own file alone."""
    path = airflow_home / "config" / "airflow_local_settings.py"
    if path.exists() and not path.read_text().startswith(MARKER):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_local_settings(database))
    return True
