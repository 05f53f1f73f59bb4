"""The s3a addresses executors read: pinned to a commit, from validated names only."""

import pytest

from nightjar.core.errors import InvalidNameError
from nightjar.io.spark_raw import s3a_uri


def test_a_read_address_names_the_repository_and_the_commit():
    commit = "a1b2c3" * 10 + "a1b2"
    assert s3a_uri("nightjar", commit, "/raw/applications/date=2026-03-01/part-0.parquet") == (
        f"s3a://nightjar/{commit}/raw/applications/date=2026-03-01/part-0.parquet"
    )


@pytest.mark.parametrize("ref", ["main", "run-branch", "../main", "a1b2c3/../x", ""])
def test_a_branch_or_anything_but_a_commit_id_is_refused(ref):
    with pytest.raises(ValueError, match="not a lakeFS commit id"):
        s3a_uri("nightjar", ref, "raw/x.parquet")


def test_an_invalid_repository_name_is_refused():
    with pytest.raises(InvalidNameError):
        s3a_uri("Bad_Repo/..", "a1b2c3d4", "raw/x.parquet")
