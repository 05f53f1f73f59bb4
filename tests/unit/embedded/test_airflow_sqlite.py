"""The "database is locked" that failed `airflow backfill create` beside the scheduler,
reproduced with two SQLAlchemy engines on one SQLite file, and its remedy.

Each case runs in a fresh interpreter: ``begin_immediate`` changes every engine of the
process it runs in, as it does in each Airflow process.
"""

import subprocess
import sys

import pytest

# What `airflow backfill create` does per date: a SAVEPOINT, a read, then a write; here
# another process commits in between, as the scheduler does.
SCRIPT = """
import sys, threading
from sqlalchemy import create_engine, text
if sys.argv[2] != "driver default":
    from nightjar.embedded.airflow_sqlite import begin_immediate
    # "another database": the remedy is for Airflow's file; MLflow's keeps the default
    other = "-other" if sys.argv[2] == "another database" else ""
    assert begin_immediate(sys.argv[1] + other, argv=["airflow", "backfill", "create"])
url = f"sqlite:///{sys.argv[1]}?timeout=10"
backfill, scheduler = create_engine(url), create_engine(url)
with backfill.begin() as c:
    c.exec_driver_sql("PRAGMA journal_mode=WAL")
    c.exec_driver_sql("CREATE TABLE runs (id INTEGER PRIMARY KEY, day TEXT)")
def commit_elsewhere():
    with scheduler.begin() as c:
        c.exec_driver_sql("INSERT INTO runs (day) VALUES ('scheduler')")
with backfill.connect() as c, c.begin(), c.begin_nested():
    c.execute(text("SELECT count(*) FROM runs")).scalar()
    other = threading.Thread(target=commit_elsewhere)
    other.start()
    other.join(timeout=2)
    c.exec_driver_sql("INSERT INTO runs (day) VALUES ('backfill')")
other.join()
with backfill.connect() as c:
    print(sorted(day for (day,) in c.exec_driver_sql("SELECT day FROM runs")))
"""


@pytest.mark.parametrize("mode", ["driver default", "another database", "begin immediate"])
def test_a_read_then_write_transaction_waits_instead_of_failing(tmp_path, mode):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "airflow.db"), mode],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if mode != "begin immediate":
        assert done.returncode != 0 and "database is locked" in done.stderr
    else:
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "['backfill', 'scheduler']"


def test_local_settings_are_written_once_and_a_users_own_file_is_kept(tmp_path):
    from nightjar.embedded.airflow_sqlite import MARKER, write_local_settings

    assert write_local_settings(tmp_path, tmp_path / "airflow.db")
    assert write_local_settings(tmp_path, tmp_path / "airflow.db")  # ours: rewritten
    path = tmp_path / "config" / "airflow_local_settings.py"
    assert path.read_text().startswith(MARKER)
    path.write_text("# the user's own\n")
    assert not write_local_settings(tmp_path, tmp_path / "airflow.db")
    assert path.read_text() == "# the user's own\n"


def test_only_backfill_commands_take_the_remedy():
    from nightjar.embedded.airflow_sqlite import begin_immediate

    for command in ("scheduler", "api-server", "dag-processor", "triggerer", "db", "dags"):
        assert not begin_immediate("/nowhere/airflow.db", argv=["airflow", command])
