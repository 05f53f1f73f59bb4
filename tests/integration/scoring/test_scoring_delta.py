"""Scoring writes: idempotent per date, safe under concurrency, atomic under a crash."""

import datetime as dt
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable

from nightjar.features.definitions import spec_hash
from nightjar.scoring.scorer import ModelRef, ScoringContext, score_partition

from ..conftest import DAYS

MODEL = ModelRef("credit_default", "7", "run-abc", "champion")


def _context(day: dt.date, run_id: str = "scheduled__x") -> ScoringContext:
    return ScoringContext(
        day,
        run_id,
        f"{day}T01:00:00+00:00",
        dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC),
    )


def _score(settings, config, world, day, table, run_id="scheduled__x"):
    return score_partition(
        settings,
        config,
        MODEL,
        _context(day, run_id),
        table=table,
        categories=world["categories"],
        model_text=world["model_text"],
    )


def _read(settings, table) -> pd.DataFrame:
    frame = DeltaTable(settings.table_uri(table)).to_pandas()
    return frame.sort_values(["score_date", "application_id"], ignore_index=True)


def test_rescoring_a_date_replaces_exactly_that_partition(settings, config, scoring_world):
    table = "scores_rerun"
    for day in DAYS[:2]:
        _score(settings, config, scoring_world, day, table)
    first = _read(settings, table)
    for _ in range(3):
        _score(settings, config, scoring_world, DAYS[0], table)
    again = _read(settings, table)
    rescored = again["score_date"] == DAYS[0]
    assert (again.loc[rescored, "scored_at"] > first.loc[rescored, "scored_at"]).all()
    assert (again.loc[~rescored, "scored_at"] == first.loc[~rescored, "scored_at"]).all()
    assert (again["data_interval_end"] == first["data_interval_end"]).all()
    pd.testing.assert_frame_equal(first.drop(columns="scored_at"), again.drop(columns="scored_at"))
    assert not again.duplicated(["score_date", "application_id"]).any()
    lineage = again.iloc[0]
    assert (lineage.model_name, lineage.model_version, lineage.model_run_id) == (
        "credit_default",
        "7",
        "run-abc",
    )
    assert lineage.lakefs_commit == "c" * 64 and lineage.feature_spec == spec_hash(config)


def test_a_30_date_concurrent_backfill_lands_every_partition_exactly_once(
    settings, config, scoring_world
):
    table = "scores_concurrent"
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda d: _score(settings, config, scoring_world, d, table), DAYS))
        list(pool.map(lambda d: _score(settings, config, scoring_world, d, table), DAYS))
    scored = _read(settings, table)
    counts = scored.groupby("score_date").size().to_dict()
    assert counts == {d: scoring_world["rows"][d] for d in DAYS}
    assert not scored.duplicated(["score_date", "application_id"]).any()


_KILLED_WRITER = """
import sys, numpy as np, pyarrow as pa, datetime as dt
from nightjar.io import delta_tables
day = dt.date.fromisoformat(sys.argv[2])
rows = 6_000_000
table = pa.table({"application_id": pa.array(np.arange(rows).astype(str)),
                  "probability": np.random.default_rng(0).random(rows),
                  "score_date": pa.array([day] * rows, pa.date32())})
print("writing", flush=True)
delta_tables.replace_partition(sys.argv[1], table, partition_column="score_date", value=day,
                               target_file_size=2_000_000)
print("committed", flush=True)
"""


def test_a_killed_scoring_run_leaves_the_previous_partition_visible(
    settings, config, scoring_world, tmp_path
):
    """SIGKILL the real delta-rs writer once its data files appear, before its commit."""
    table = "scores_killed"
    uri = settings.table_uri(table)
    _score(settings, config, scoring_world, DAYS[0], table)
    before = _read(settings, table)
    version = DeltaTable(uri).version()
    existing = set(Path(uri).rglob("*.parquet"))
    script = tmp_path / "writer.py"
    script.write_text(_KILLED_WRITER)
    proc = subprocess.Popen(
        [sys.executable, str(script), uri, str(DAYS[0])], stdout=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if set(Path(uri).rglob("*.parquet")) - existing:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    output, _ = proc.communicate(timeout=30)
    if "committed" in output:
        pytest.fail("the writer committed before it could be killed; make the write larger")
    assert set(Path(uri).rglob("*.parquet")) - existing, "killed before writing any data file"
    assert DeltaTable(uri).version() == version
    pd.testing.assert_frame_equal(before, _read(settings, table))
    _score(settings, config, scoring_world, DAYS[0], table)  # the rerun completes
    after = _read(settings, table)
    assert (after["scored_at"] > before["scored_at"]).all()  # the wall clock of the rerun
    pd.testing.assert_frame_equal(before.drop(columns="scored_at"), after.drop(columns="scored_at"))


@pytest.mark.parametrize("bad", ["2026-02-01' OR '1'='1", "../../etc"])
def test_partition_values_cannot_inject_into_the_predicate(settings, bad):
    import pyarrow as pa

    from nightjar.core.errors import InvalidNameError
    from nightjar.io import delta_tables

    with pytest.raises(InvalidNameError):
        delta_tables.replace_partition(
            settings.table_uri("injection"), pa.table({"k": [bad]}), partition_column="k", value=bad
        )


def test_a_date_range_is_replaced_in_one_commit_and_refuses_rows_outside_it(settings):
    import pyarrow as pa

    from nightjar.io import delta_tables

    uri = settings.table_uri("range_replace")
    days = [dt.date(2026, 1, d) for d in (1, 2, 3, 4)]
    delta_tables.replace_date_range(
        uri,
        pa.table({"d": pa.array(days, pa.date32()), "v": [1, 2, 3, 4]}),
        partition_column="d",
        start=days[0],
        end=days[-1],
    )
    version = DeltaTable(uri).version()
    delta_tables.replace_date_range(
        uri,
        pa.table({"d": pa.array([days[1]], pa.date32()), "v": [20]}),
        partition_column="d",
        start=days[1],
        end=days[2],
    )
    assert DeltaTable(uri).version() == version + 1
    rows = DeltaTable(uri).to_pandas().sort_values("d")
    assert rows["v"].tolist() == [1, 20, 4]
    with pytest.raises(ValueError, match="fall outside"):
        delta_tables.replace_date_range(
            uri,
            pa.table({"d": pa.array([days[0]], pa.date32()), "v": [0]}),
            partition_column="d",
            start=days[1],
            end=days[2],
        )


def test_a_date_range_replacement_narrowed_to_one_source_leaves_the_others(settings):
    """The one quarantine table holds every source's rows: rerunning one source's dates
    replaces that source's rows only."""
    import pyarrow as pa

    from nightjar.io import delta_tables

    uri = settings.table_uri("shared_by_sources")
    day = dt.date(2026, 1, 1)

    def replace(rows_of: str, values: list[int], *, only: str) -> None:
        """Replace ``only``'s rows of the day with ``values`` attributed to ``rows_of``."""
        rows = pa.table(
            {
                "d": pa.array([day] * len(values), pa.date32()),
                "source": [rows_of] * len(values),
                "v": values,
            }
        )
        delta_tables.replace_date_range(
            uri, rows, partition_column="d", start=day, end=day, only_where={"source": only}
        )

    replace("applications", [1, 2], only="applications")
    replace("bureau", [3], only="bureau")
    replace("applications", [10], only="applications")
    table = DeltaTable(uri).to_pandas().sort_values("v")
    assert list(zip(table["source"], table["v"], strict=True)) == [
        ("bureau", 3),
        ("applications", 10),
    ]
    with pytest.raises(ValueError, match="source = 'applications'"):
        replace("bureau", [4], only="applications")
