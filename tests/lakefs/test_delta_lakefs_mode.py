"""deltalake's native ``lakefs://repo/branch/path`` mode: the S3 gateway and transaction
branches it relies on. Runs unchanged against a real lakeFS when LAKEFS_ENDPOINT is set."""

import datetime as dt

import lakefs
import numpy as np
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake


@pytest.fixture
def options(lakefs_endpoint) -> dict[str, str]:
    endpoint, key, secret = lakefs_endpoint
    return {
        "endpoint": endpoint,
        "access_key_id": key,
        "secret_access_key": secret,
        "allow_http": str(endpoint.startswith("http://")).lower(),
    }


def _day(day: dt.date, rows: int = 50) -> pa.Table:
    return pa.table({"day": pa.array([day] * rows, pa.date32()), "n": list(range(rows))})


def test_writes_commit_to_the_branch_and_time_travel_by_version(repo, options):
    uri = f"lakefs://{repo.id}/main/scores"
    first, second = dt.date(2026, 3, 1), dt.date(2026, 3, 2)
    write_deltalake(uri, _day(first), partition_by=["day"], storage_options=options)
    write_deltalake(uri, _day(second), mode="append", storage_options=options)
    write_deltalake(
        uri,
        _day(first, rows=10),
        mode="overwrite",
        predicate=f"day = '{first}'",
        storage_options=options,
    )
    table = DeltaTable(uri, storage_options=options)
    counts = table.to_pandas().groupby("day").size().to_dict()
    assert counts == {first: 10, second: 50}
    assert len(DeltaTable(uri, version=0, storage_options=options).to_pandas()) == 50
    commits = list(repo.branch("main").log(max_amount=10))
    assert len(commits) >= 3, "each Delta write is a lakeFS commit merged into main"
    assert not list(repo.branch("main").uncommitted()), "nothing is left staged on main"
    assert all(not b.id.startswith("delta-tx") for b in repo.branches()), "tx branches cleaned"


def test_a_table_on_another_branch_is_isolated_until_merged(repo, options):
    main_uri = f"lakefs://{repo.id}/main/t"
    write_deltalake(main_uri, _day(dt.date(2026, 3, 1)), storage_options=options)
    repo.branch("feature").create(source_reference="main")
    write_deltalake(
        f"lakefs://{repo.id}/feature/t",
        _day(dt.date(2026, 3, 2)),
        mode="append",
        storage_options=options,
    )
    assert len(DeltaTable(main_uri, storage_options=options).to_pandas()) == 50
    repo.branch("feature").merge_into(repo.branch("main"))
    assert len(DeltaTable(main_uri, storage_options=options).to_pandas()) == 100


def test_large_files_go_up_in_parts_and_come_back_whole(repo, options):
    """delta-rs sends big Parquet files as S3 multipart uploads."""
    rng = np.random.default_rng(0)
    table = pa.table({"x": rng.random(3_000_000), "y": rng.random(3_000_000)})
    uri = f"lakefs://{repo.id}/main/big"
    write_deltalake(uri, table, storage_options=options)
    back = DeltaTable(uri, storage_options=options).to_pyarrow_table()
    assert back.num_rows == 3_000_000
    assert np.array_equal(back.column("x").to_numpy(), table.column("x").to_numpy())
    sizes = [o.size_bytes for o in repo.ref("main").objects(prefix="big/part-")]
    assert max(sizes) > 10 * 2**20, "the file was large enough to need a multipart upload"


def test_wrong_credentials_are_refused(repo, options):
    with pytest.raises(OSError):
        write_deltalake(
            f"lakefs://{repo.id}/main/t",
            _day(dt.date(2026, 3, 1)),
            storage_options={**options, "secret_access_key": "wrong"},
        )
    with pytest.raises(lakefs.exceptions.NotFoundException):
        repo.ref("main").object("t/_delta_log/00000000000000000000.json").stat()
