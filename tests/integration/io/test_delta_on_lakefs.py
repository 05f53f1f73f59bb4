"""Nightjar's Delta writes with the warehouse in lakeFS: concurrent dates land exactly once.

Two transaction branches that both add ``_delta_log/N.json`` conflict when merged (lakeFS
#3380, #7398). delta-rs's lakeFS backend turns that conflict into a failed Delta commit,
and ``delta_tables`` retries it on a fresh transaction branch from the new head: a
rebase-and-retry of the date's partition write.
"""

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import lakefs
import pyarrow as pa
import pytest

from nightjar.io import delta_tables, snapshots
from nightjar.io.lakefs_client import make_client

REPO = "nightjar-warehouse-test"
DAYS = [dt.date(2026, 4, 1) + dt.timedelta(days=i) for i in range(8)]


@pytest.fixture(scope="module")
def warehouse(settings, embedded_stack):
    client = make_client(settings)
    snapshots.ensure_repository(client, REPO, f"local://{REPO}")
    return client, f"lakefs://{REPO}/main/warehouse"


def _scores(day: dt.date, version: str = "1") -> pa.Table:
    rows = 200
    return pa.table(
        {
            "entity": [f"{day}-{i}" for i in range(rows)],
            "probability": [i / rows for i in range(rows)],
            "model_version": [version] * rows,
            "score_date": pa.array([day] * rows, pa.date32()),
        }
    )


def _replace(uri: str, day: dt.date, version: str = "1") -> None:
    delta_tables.replace_partition(
        uri,
        _scores(day, version),
        partition_column="score_date",
        value=day,
        commit_metadata={delta_tables.LAKEFS_COMMIT_KEY: f"{day}-{version}"},
    )


def test_eight_dates_written_four_at_a_time_land_exactly_once(warehouse):
    client, root = warehouse
    uri = f"{root}/scores_concurrent"
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda day: _replace(uri, day), DAYS))
        list(pool.map(lambda day: _replace(uri, day, "2"), DAYS))
    frame = delta_tables.read(uri).to_pandas()
    assert frame.groupby("score_date").size().to_dict() == {day: 200 for day in DAYS}
    assert set(frame["model_version"]) == {"2"}
    assert not frame.duplicated(["score_date", "entity"]).any()
    repo = lakefs.Repository(REPO, client=client)
    assert not list(repo.branch("main").uncommitted())
    # Writers that lost a race leave their transaction branch (as delta-rs documents);
    # the branch retention policy clears them.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    snapshots.prune_run_branches(client, REPO, older_than=dt.timedelta(0), now=later)
    assert not [b.id for b in repo.branches() if b.id.startswith("delta-tx")]
    assert delta_tables.read(uri).num_rows == 200 * len(DAYS), "pruning lost nothing"


def test_rewriting_a_date_is_idempotent_and_time_travel_finds_each_write(warehouse):
    _, root = warehouse
    uri = f"{root}/scores_rerun"
    for _ in range(3):
        _replace(uri, DAYS[0])
    _replace(uri, DAYS[1])
    frame = delta_tables.read(uri).to_pandas()
    assert frame.groupby("score_date").size().to_dict() == {DAYS[0]: 200, DAYS[1]: 200}
    version = delta_tables.version_with_metadata(
        uri, delta_tables.LAKEFS_COMMIT_KEY, f"{DAYS[0]}-1"
    )
    assert version == 2, "the last of the three identical writes"
    then = delta_tables.open_table(uri, version=version).to_pandas()
    assert set(then["score_date"]) == {DAYS[0]}


def test_analysts_see_the_delta_tables_in_lakefs_and_only_those(settings, warehouse):
    from nightjar.io.analytics import table_names

    client, root = warehouse
    _replace(f"{root}/scores_listed", DAYS[0])
    branch = lakefs.Repository(REPO, client=client).branch("main")
    branch.object("warehouse/notes/readme.txt").upload(b"not a table")
    branch.commit(message="a folder that is not a Delta table")
    names = table_names(settings.model_copy(update={"warehouse_uri": root}))
    assert "scores_listed" in names and "notes" not in names
