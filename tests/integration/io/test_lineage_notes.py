"""Delta reads and writes note what lineage needs: the version each commit created, the
partition replaced and the rows, even when another writer committed in between."""

import datetime as dt

import pyarrow as pa

from nightjar.core import lineage_record as lr
from nightjar.io import delta_tables


def _day(day: dt.date, rows: int) -> pa.Table:
    return pa.table({"score_date": pa.array([day] * rows, pa.date32()), "x": list(range(rows))})


def test_a_partition_write_notes_its_own_version_partition_and_rows(tmp_path):
    uri = str(tmp_path / "scores")
    day = dt.date(2026, 3, 5)
    delta_tables.replace_partition(uri, _day(day, 4), partition_column="score_date", value=day)
    with lr.recording() as collected:
        delta_tables.replace_partition(uri, _day(day, 3), partition_column="score_date", value=day)
        # another writer commits after ours: the note keeps our version
        delta_tables.append(str(tmp_path / "other"), _day(day, 1))
        delta_tables.replace_partition(
            uri, _day(day + dt.timedelta(days=1), 2), partition_column="score_date",
            value=day + dt.timedelta(days=1),
        )  # fmt: skip
        delta_tables.read(uri, filters=[("score_date", "=", day)])
    # One record for the table: the version of the step's last write, both partitions,
    # the rows of both writes.
    (scores,) = [r for r in collected.outputs if r.name.endswith("/scores")]
    assert (scores.version, scores.partitions, scores.rows) == (
        "2",
        ({"score_date": "2026-03-05"}, {"score_date": "2026-03-06"}),
        5,
    )
    assert all(r.namespace == "file" for r in collected.outputs)
    assert [(r.name.rsplit("/", 1)[1], r.version) for r in collected.inputs] == [("scores", "2")]
