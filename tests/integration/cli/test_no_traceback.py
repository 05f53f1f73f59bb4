"""Whatever names, dates, versions and commit ids a user types, no command answers with a
traceback: hypothesis generates them for every command that takes one, against the
embedded stand-in and an empty registry. Each answer is either a success or one
``Error:`` line with exit code 1, or click's usage error with exit code 2."""

from __future__ import annotations

import string

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nightjar.cli.main import main

REPO = "nightjar-fuzz"

names = st.text(string.ascii_letters + string.digits + "-_./:@~^ ", min_size=0, max_size=30)
dates = st.one_of(
    st.dates().map(str),
    st.text(string.digits + "-/", min_size=0, max_size=12),
    st.sampled_from(["2026-02-30", "2026-13-01", "today", "", "0000-00-00"]),
)
versions = st.one_of(
    st.integers(-5, 10_000).map(str),
    st.text(string.ascii_letters + string.digits + "-.", max_size=12),
)
commits = st.one_of(
    st.text("0123456789abcdef", min_size=1, max_size=64),
    st.text(string.printable.strip(), max_size=20),
)

COMMANDS = {
    "data branch": lambda draw: ["data", "branch", draw(names)],
    "data diff": lambda draw: ["data", "diff", draw(names), draw(names)],
    "data log": lambda draw: ["data", "log", draw(names)],
    "data commit": lambda draw: ["data", "commit", draw(names), "-m", "x"],
    "data merge": lambda draw: ["data", "merge", draw(names)],
    "data revert": lambda draw: ["data", "revert", draw(names), draw(commits)],
    "data ingest": lambda draw: ["data", "ingest", "applications", draw(dates), "/no/such"],
    "model promote": lambda draw: ["model", "promote", "--version", draw(versions)],
    "model rollback": lambda draw: ["model", "rollback", "--to", draw(versions)],
    "model compare": lambda draw: ["model", "compare", "--version", draw(versions)],
    "explain": lambda draw: ["explain", draw(names), "--date", draw(dates)],
    "run": lambda draw: ["run", "score", "--date", draw(dates), "--to", draw(dates)],
    "query --version": lambda draw: ["query", "--version", f"scores={draw(versions)}", "SELECT 1"],
    "query --at-commit": lambda draw: [
        "query",
        "--at-commit",
        f"scores={draw(commits)}",
        "SELECT 1",
    ],
}


@pytest.fixture(scope="module")
def runner(settings, embedded_stack):
    from nightjar.ingest.landing import protect_main
    from nightjar.io import snapshots
    from nightjar.io.lakefs_client import make_client

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NIGHTJAR_LAKEFS_REPOSITORY", REPO)
        patch.setenv("NIGHTJAR_AIRFLOW_PORT", "9")  # no Airflow of the suite's is found there
        client = make_client(settings)
        snapshots.ensure_repository(client, REPO, f"local://{REPO}")
        protect_main(client, REPO)
        yield CliRunner()


@st.composite
def command_lines(draw):
    name = draw(st.sampled_from(sorted(COMMANDS)))
    return name, COMMANDS[name](draw)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(line=command_lines())
def test_no_input_gets_a_traceback(runner, line):
    name, args = line
    if name == "run" and _both_dates_parse(args):
        args = [*args, "--help"]  # a real range would start Airflow: parse the options only
    result = runner.invoke(main, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args,
        result.exception,
    )
    assert "Traceback" not in result.output, (args, result.output)
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output)
    if result.exit_code == 1:
        errors = [line for line in result.output.splitlines() if line.startswith("Error")]
        assert len(errors) == 1, (args, result.output)


def _both_dates_parse(args: list[str]) -> bool:
    """Whether ``run`` would accept both dates, by the CLI's own rule (a rule of the
    test's own drifted once: an empty ``--to`` passed it and started an Airflow)."""
    from nightjar.core.names import InvalidNameError, parse_date

    try:
        parse_date(args[3])
        parse_date(args[5])
    except InvalidNameError:
        return False
    return True


def test_an_empty_to_is_refused_not_read_as_a_single_date(runner):
    """``--to ""`` once meant "no --to" and ran a whole night through an Airflow it
    started; it is an invalid date, said in one line, and nothing starts."""
    result = runner.invoke(main, ["run", "score", "--date", "2026-03-01", "--to", ""])
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines() == ["Error: invalid date '': expected YYYY-MM-DD"], (
        result.output
    )
