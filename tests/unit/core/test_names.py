import datetime as dt

import pytest

from nightjar.core.names import (
    InvalidNameError,
    parse_date,
    run_branch_name,
    validate_branch,
    validate_host_label,
    validate_identifier,
    validate_repository,
)


@pytest.mark.parametrize(
    "run_id",
    [
        "scheduled__2026-03-01T01:00:00+00:00",
        "manual__2026-03-01T01:00:00.123456+00:00",
        "backfill__2026-03-01T00:00:00+00:00",
        "weird run/with:every.kind$of..char",
    ],
)
def test_run_branch_names_are_valid_lakefs_branches(run_id):
    name = run_branch_name("nightjar_score", run_id)
    assert validate_branch(name) == name
    assert name == run_branch_name("nightjar_score", run_id), "stable across calls"


def test_run_ids_that_fold_alike_get_different_branches():
    assert run_branch_name("d", "a:b") != run_branch_name("d", "a.b")


@pytest.mark.parametrize("bad", ["", "-x", "a/b", "a:b", "a.b", "main; rm -rf /", "x" * 200])
def test_bad_branch_names_are_refused(bad):
    with pytest.raises(InvalidNameError, match="invalid lakeFS branch name"):
        validate_branch(bad)


@pytest.mark.parametrize("bad", ["scores; DROP TABLE x", "1abc", "a-b", "a b", "", "é"])
def test_sql_identifiers_are_strict(bad):
    with pytest.raises(InvalidNameError):
        validate_identifier(bad)


@pytest.mark.parametrize("bad", ["Nightjar", "ab", "-abc", "a_b_c"])
def test_repository_names(bad):
    with pytest.raises(InvalidNameError):
        validate_repository(bad)
    assert validate_repository("nightjar") == "nightjar"


@pytest.mark.parametrize("bad", ["2026-13-01", "2026-3-1", "01/03/2026", "2026-03-01' OR 1=1"])
def test_dates_are_parsed_strictly(bad):
    with pytest.raises(InvalidNameError, match="invalid date"):
        parse_date(bad)
    assert parse_date("2026-03-01") == dt.date(2026, 3, 1)


@pytest.mark.parametrize("bad", ["-a", "a-", "a_b", "a.b", "", "x" * 64, "a b", "a;rm"])
def test_worker_names_are_host_labels(bad):
    with pytest.raises(InvalidNameError, match="1-63 letters"):
        validate_host_label(bad)
    assert validate_host_label("worker-a") == "worker-a"
