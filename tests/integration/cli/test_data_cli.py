"""The data engineer's CLI against the embedded stand-in."""

import datetime as dt

import pytest
from click.testing import CliRunner

from nightjar.cli.main import main
from nightjar.embedded import demo_data
from nightjar.ingest.landing import protect_main
from nightjar.io import snapshots
from nightjar.io.lakefs_client import make_client

DAY = dt.date(2026, 2, 2)


REPO = "nightjar-cli"  # its own repository: other tests land data in "nightjar"


@pytest.fixture(scope="module")
def runner(settings, embedded_stack):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NIGHTJAR_LAKEFS_REPOSITORY", REPO)
        client = make_client(settings)
        snapshots.ensure_repository(client, REPO, f"local://{REPO}")
        protect_main(client, REPO)
        yield CliRunner()


def _invoke(runner, *args):
    return runner.invoke(main, list(args), catch_exceptions=False)


def test_ingest_a_csv_then_see_it_in_log_and_diff(runner, tmp_path):
    path = tmp_path / "apps.csv"
    demo_data.applications_for(DAY, demo_data.DemoSpec(rows_per_day=100)).to_csv(path, index=False)
    result = _invoke(runner, "data", "ingest", "applications", str(DAY), str(path))
    assert result.exit_code == 0, result.output
    assert "100 rows validated; merged into main" in result.output
    log = _invoke(runner, "data", "log", "-n", "3")
    assert "nightjar.source_file: apps.csv" in log.output


def test_ingest_refuses_a_file_that_is_not_parquet_or_csv(runner, tmp_path):
    path = tmp_path / "apps.json"
    path.write_text('{"not": "a table"}')
    result = runner.invoke(main, ["data", "ingest", "applications", str(DAY), str(path)])
    assert result.exit_code == 1
    assert "not a Parquet file" in result.output and "Traceback" not in result.output


def test_ingest_refuses_bad_rows_with_a_report(runner, tmp_path):
    frame = demo_data.applications_for(DAY, demo_data.DemoSpec(rows_per_day=100))
    frame.loc[:50, "age"] = 7
    path = tmp_path / "bad.parquet"
    frame.to_parquet(path)
    result = runner.invoke(main, ["data", "ingest", "applications", str(DAY), str(path)])
    assert result.exit_code == 1
    assert "'age'" in result.output and "51 of 100 rows" in result.output


def test_branch_diff_merge_and_revert(runner, settings, tmp_path):
    assert _invoke(runner, "data", "branch", "feature-x").exit_code == 0
    path = tmp_path / "apps.parquet"
    later = DAY + dt.timedelta(days=1)
    demo_data.applications_for(later, demo_data.DemoSpec(rows_per_day=50)).to_parquet(path)
    result = _invoke(
        runner, "data", "ingest", "applications", str(later), str(path), "--branch", "feature-x"
    )
    assert result.exit_code == 0 and "committed on feature-x" in result.output, result.output
    assert _invoke(runner, "data", "merge", "feature-x").exit_code == 0
    merged_head = snapshots.resolve_commit(make_client(settings), REPO, "main")
    assert _invoke(runner, "data", "branch", "fix").exit_code == 0
    revert = _invoke(runner, "data", "revert", "fix", merged_head, "--parent", "1")
    assert revert.exit_code == 0, revert.output
    diff = _invoke(runner, "data", "diff", "fix", "main")
    assert f"date={later}" in diff.output and "removed" in diff.output
    merge = _invoke(runner, "data", "merge", "fix")
    assert merge.exit_code == 0 and "merged fix into main" in merge.output


def test_bad_names_are_refused_before_reaching_lakefs(runner):
    result = runner.invoke(main, ["data", "branch", "../../etc"])
    assert result.exit_code == 1 and "invalid lakeFS branch name" in result.output
    result = runner.invoke(main, ["data", "ingest", "applications", "2026-02-30", "x.csv"])
    assert result.exit_code == 1 and "invalid date" in result.output


def test_before_init_ingest_says_to_run_data_init_and_init_is_idempotent(
    settings, embedded_stack, tmp_path
):
    path = tmp_path / "apps.csv"
    demo_data.applications_for(DAY, demo_data.DemoSpec(rows_per_day=20)).to_csv(path, index=False)
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NIGHTJAR_LAKEFS_REPOSITORY", "nightjar-not-yet")
        before = runner.invoke(main, ["data", "ingest", "applications", str(DAY), str(path)])
        assert before.exit_code == 1 and "Traceback" not in before.output
        assert "does not exist: create it with `nightjar data init`" in before.output
        log = runner.invoke(main, ["data", "log"])
        assert log.exit_code == 1 and "nightjar data init" in log.output
        for _ in range(2):
            init = _invoke(runner, "data", "init")
            assert init.output.strip() == "repository nightjar-not-yet: ready"
        rules = make_client(settings).sdk_client.repositories_api.get_branch_protection_rules(
            "nightjar-not-yet"
        )
        assert [rule.pattern for rule in rules] == ["main"]
        after = _invoke(runner, "data", "ingest", "applications", str(DAY), str(path))
        assert "merged into main" in after.output


def test_a_bad_query_is_one_line(settings):
    result = CliRunner().invoke(main, ["query", "SELECT no_such_column FROM no_such_table"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: query failed:") and "Traceback" not in result.output


def test_the_readme_branch_workflow_ingest_to_a_branch_then_diff_then_merge(runner, tmp_path):
    day = DAY + dt.timedelta(days=3)
    path = tmp_path / "apps.parquet"
    demo_data.applications_for(day, demo_data.DemoSpec(rows_per_day=50)).to_parquet(path)
    _invoke(runner, "data", "branch", "fix-apps")
    landed = _invoke(
        runner, "data", "ingest", "applications", str(day), str(path), "--branch", "fix-apps"
    )
    assert "committed on fix-apps" in landed.output, landed.output
    diff = _invoke(runner, "data", "diff", "fix-apps", "main")
    assert f"date={day}" in diff.output and "1 change(s)" in diff.output
    merged = _invoke(runner, "data", "merge", "fix-apps")
    assert merged.exit_code == 0, merged.output
    assert _invoke(runner, "data", "diff", "fix-apps", "main").output.strip() == "0 change(s)"


def test_a_csv_is_read_with_the_declared_types_and_n_a_is_not_a_number(runner, tmp_path):
    frame = demo_data.applications_for(DAY, demo_data.DemoSpec(rows_per_day=50)).astype(object)
    frame.loc[[3, 7, 9], "income"] = "n/a"
    path = tmp_path / "apps.csv"
    frame.to_csv(path, index=False)
    result = runner.invoke(main, ["data", "ingest", "applications", str(DAY), str(path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "column 'income': 3 value(s) are not numbers (e.g. 'n/a')" in result.output
    assert "nothing was ingested" in result.output


def test_rows_the_rules_will_set_aside_are_reported_before_the_merge(runner, tmp_path, caplog):
    frame = demo_data.applications_for(DAY, demo_data.DemoSpec(rows_per_day=100))
    frame.loc[1, "application_id"] = frame.loc[0, "application_id"]
    path = tmp_path / "dupes.parquet"
    frame.to_parquet(path)
    with caplog.at_level("WARNING", logger="nightjar.ingest.landing"):
        result = _invoke(runner, "data", "ingest", "applications", str(DAY), str(path))
    assert result.exit_code == 0, result.output
    warning = next(r for r in caplog.records if "set aside" in r.getMessage())
    assert f"applications {DAY}: 2 of 100 rows break the dataset's rules" in warning.getMessage()
    assert "uniqueness" in warning.getMessage()


def _export(folder, days, rows=30, break_ages_on=()):
    """One CSV per day, named after it, as a source system exports them."""
    folder.mkdir(parents=True, exist_ok=True)
    for day in days:
        frame = demo_data.applications_for(day, demo_data.DemoSpec(rows_per_day=rows))
        if day in break_ages_on:
            frame.loc[: rows // 2, "age"] = 7
        frame.to_csv(folder / f"applications-{day}.csv", index=False)


def _main_head(settings) -> str:
    return snapshots.resolve_commit(make_client(settings), REPO, snapshots.MAIN)


def test_a_folder_of_dated_files_lands_in_one_commit(runner, settings, tmp_path):
    days = [dt.date(2026, 2, 10) + dt.timedelta(days=i) for i in range(5)]
    _export(tmp_path / "exports", days)
    before = _main_head(settings)
    result = _invoke(
        runner, "data", "ingest", "applications", "--from-folder", str(tmp_path / "exports")
    )
    assert result.exit_code == 0, result.output
    assert (
        "applications 2026-02-10..2026-02-14 (5 dates): 150 rows validated; merged" in result.output
    )
    log = _invoke(runner, "data", "log", "-n", "2").output
    assert "ingest applications 2026-02-10..2026-02-14 (5 dates) from exports/" in log
    assert _main_head(settings) != before


def test_a_folder_with_bad_dates_is_refused_whole_naming_each_date(runner, settings, tmp_path):
    days = [dt.date(2026, 2, 20) + dt.timedelta(days=i) for i in range(4)]
    _export(tmp_path / "exports", days, break_ages_on=(days[1], days[3]))
    before = _main_head(settings)
    result = runner.invoke(
        main, ["data", "ingest", "applications", "--from-folder", str(tmp_path / "exports")]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "2 of 4 batches break the rules; nothing was written" in result.output
    assert f"applications {days[1]}" in result.output and f"applications {days[3]}" in result.output
    assert f"applications {days[0]}:" not in result.output
    assert _main_head(settings) == before


def test_a_file_whose_name_has_no_date_is_refused(runner, tmp_path):
    _export(tmp_path / "exports", [DAY])
    (tmp_path / "exports" / "applications-latest.csv").write_text("application_id\nx\n")
    result = runner.invoke(
        main, ["data", "ingest", "applications", "--from-folder", str(tmp_path / "exports")]
    )
    assert result.exit_code == 1
    assert "1 file(s) whose path names no single YYYY-MM-DD date" in result.output
    assert "applications-latest.csv" in result.output
