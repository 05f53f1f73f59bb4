"""Bad input at the door, through the ``nightjar`` command from a user's shell: each class
of mistake gets one clear line (``Error: ...``) and exit code 1 (2 for a usage error), no
traceback, and leaves lakeFS main, its branches and the warehouse as they were.

The shell is ``UserShell``'s (scrubbed environment, working directory outside the
repository), with the lakeFS stand-in started by ``nightjar stack up`` and a day of
applications on main. The user's dataset config is a copy of the packaged one, with
``duplicates: refuse`` on the applications for the one case that needs it.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from nightjar.core.settings import PACKAGED_CONFIGS, Settings
from nightjar.embedded import demo_data
from tests.ports import free_port

from .conftest import UserShell, stop_started

pytestmark = pytest.mark.scheduler  # a user's shell: about 60 s for every class below
DAY = dt.date(2026, 3, 2)
SPEC = demo_data.DemoSpec(rows_per_day=200, customers=1000)


@dataclass(frozen=True)
class World:
    shell: UserShell
    files: Path
    merge_commit: str


def _applications(day: dt.date) -> pd.DataFrame:
    return demo_data.applications_for(day, SPEC)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("bad-input")
    shutil.copytree(PACKAGED_CONFIGS, root / "configs")
    config = root / "configs" / "datasets" / "credit_default.yaml"
    text = config.read_text().replace(
        "    unique: [application_id]\n    columns:\n      application_id",
        "    unique: [application_id]\n    duplicates: refuse\n    columns:\n      application_id",
        1,
    )
    config.write_text(text)
    shell = UserShell.create(root, {"NIGHTJAR_DATASET_CONFIG": str(config)})
    files = root / "files"
    files.mkdir()
    for command in (["stack", "up"], ["data", "init"]):
        result = shell.run("nightjar", *command)
        assert result.returncode == 0, result.stderr
    first = files / "first.parquet"
    _applications(DAY).to_parquet(first, index=False)
    result = shell.run("nightjar", "data", "ingest", "applications", str(DAY), str(first))
    assert result.returncode == 0, result.stderr
    shell.run("nightjar", "data", "branch", "work")
    side = files / "side.parquet"
    _applications(DAY - dt.timedelta(days=1)).to_parquet(side, index=False)
    day_before = str(DAY - dt.timedelta(days=1))
    result = shell.run("nightjar", "data", "ingest", "applications", day_before, str(side))
    assert result.returncode == 0, result.stderr
    merge = shell.run("nightjar", "data", "log", "-n", "1").stdout.split()[0]
    yield World(shell, files, merge)
    shell.run("nightjar", "stack", "down")
    stop_started(shell)


def _state(shell: UserShell) -> tuple[str, str]:
    """main's head and the branch list (read with the SDK: the commands under test are
    the only CLI calls a case makes)."""
    _, repo = _lakefs(shell)
    return repo.ref("main").get_commit().id, ",".join(sorted(b.id for b in repo.branches()))


def _lakefs(shell: UserShell):
    """The user's lakeFS client and repository."""
    import lakefs

    from nightjar.embedded.supervisor import standin_credentials

    settings = Settings(
        home=shell.home, lakefs_standin_port=int(shell.env["NIGHTJAR_LAKEFS_STANDIN_PORT"])
    )
    creds = standin_credentials(settings)
    client = lakefs.Client(
        host=f"http://127.0.0.1:{settings.lakefs_standin_port}",
        username=creds["access_key_id"],
        password=creds["secret_access_key"],
    )
    return client, lakefs.Repository("nightjar", client=client)


def _file(name: str, write: Callable[[Path], None]) -> Callable[[World], str]:
    def make(world: World) -> str:
        path = world.files / name
        write(path)
        return str(path)

    return make


def _frame(change: Callable[[pd.DataFrame], pd.DataFrame], day: dt.date = DAY):
    return lambda path: change(_applications(day)).to_parquet(path, index=False)


def _csv(text_of: Callable[[pd.DataFrame], str]):
    return lambda path: path.write_text(text_of(_applications(DAY)))


def _folder(layout: dict[str, pd.DataFrame | str]):
    def write(path: Path) -> None:
        for name, content in layout.items():
            target = path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str):
                target.write_text(content)
            else:
                content.to_parquet(target, index=False)

    return write


def _string_in_income(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(income=frame["income"].astype(str).where(frame.index > 0, "lots"))


def _duplicated(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame, frame.head(3)], ignore_index=True)


def _later_day(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(event_ts=frame["event_ts"] + pd.Timedelta(days=2))


def _missing_column(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["age"])


def _bad_ages(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(age=7)


@dataclass(frozen=True)
class Case:
    """A bad input: the command (``{file}`` and ``{merge}`` filled in), what the one line
    says, and the exit code."""

    name: str
    args: tuple[str, ...]
    says: str
    code: int = 1
    file: Callable[[World], str] | None = None
    env: tuple[tuple[str, str], ...] = ()


INGEST = ("data", "ingest", "applications")
CASES = [
    Case("an earlier day's file under a later date", (*INGEST, str(DAY), "{file}"),
         f"fall on {DAY - dt.timedelta(days=1)}", file=_file(
             "yesterday.parquet", _frame(lambda f: f, DAY - dt.timedelta(days=1)))),
    Case("a later day's rows under an earlier date", (*INGEST, str(DAY), "{file}"),
         f"fall on {DAY + dt.timedelta(days=2)}", file=_file("later.parquet", _frame(_later_day))),
    Case("a semicolon-separated CSV", (*INGEST, str(DAY), "{file}"), "looks ';'-separated",
         file=_file("semi.csv", _csv(lambda f: f.to_csv(index=False, sep=";")))),
    Case("a string in a Parquet number column", (*INGEST, str(DAY), "{file}"),
         "column 'income' has type", file=_file("string.parquet", _frame(_string_in_income))),
    Case("a word in a CSV number column", (*INGEST, str(DAY), "{file}"), "column 'income'",
         file=_file("word.csv", _csv(lambda f: _string_in_income(f).to_csv(index=False)))),
    Case("repeated ids under duplicates: refuse", (*INGEST, str(DAY), "{file}"),
         "(duplicates: refuse)", file=_file("dup.parquet", _frame(_duplicated))),
    Case("a missing column", (*INGEST, str(DAY), "{file}"), "missing column(s): 'age'",
         file=_file("missing.parquet", _frame(_missing_column))),
    Case("rows past the quarantine threshold", (*INGEST, str(DAY), "{file}"),
         "above the 5.0% threshold", file=_file("ages.parquet", _frame(_bad_ages))),
    Case("an empty file", (*INGEST, str(DAY), "{file}"), "not a readable CSV file",
         file=_file("empty.csv", lambda p: p.write_text(""))),
    Case("neither Parquet nor CSV", (*INGEST, str(DAY), "{file}"), "not a Parquet file",
         file=_file("rows.json", lambda p: p.write_text("[]"))),
    Case("a file that is not there", (*INGEST, str(DAY), "/nowhere/at/all.parquet"),
         "no such file"),
    Case("a date that is not one", (*INGEST, "2026-13-01", "{file}"), "2026-13-01",
         file=_file("ok.parquet", _frame(lambda f: f))),
    Case("a source the dataset does not have", ("data", "ingest", "payments", str(DAY), "x"),
         "'payments' is not a source", code=2),
    Case("an export of several sources side by side", (*INGEST, "--from-folder", "{file}"),
         "holds files of 2 kinds", file=_file("export", _folder({
             f"date={DAY}/applications.parquet": _applications(DAY),
             f"date={DAY}/labels.parquet": pd.DataFrame({"x": [1]})}))),
    Case("a pattern that matches no file", (*INGEST, "--from-folder", "{file}", "--pattern",
         "apps*"), "is named like 'apps*'", file=_file("export2", _folder({
             f"date={DAY}/applications.parquet": _applications(DAY)}))),
    Case("a file whose path names no date", (*INGEST, "--from-folder", "{file}"),
         "names no single YYYY-MM-DD date", file=_file("export3", _folder({
             "applications.parquet": _applications(DAY)}))),
    Case("a diff with a branch that does not exist", ("data", "diff", "no-such-branch", "main"),
         "lakeFS has no such ref"),
    Case("a commit on main", ("data", "commit", "main", "-m", "direct"),
         "main changes only through a validated merge", code=2),
    Case("a revert on main", ("data", "revert", "main", "{merge}", "--parent", "1"),
         "main changes only through a validated merge", code=2),
    Case("a revert of a merge commit without --parent", ("data", "revert", "work", "{merge}"),
         "pass --parent 1"),
    Case("a branch name lakeFS refuses", ("data", "branch", "bad/name"), "bad/name"),
    Case("a model version that does not exist", ("model", "promote", "--version", "0"),
         "credit_default v0 is not in the registry"),
    Case("a rollback to a version that does not exist", ("model", "rollback", "--to", "99"),
         "v99 is not in the registry"),
    Case("a query that is not SQL", ("query", "SELEC nothing"), "query failed"),
    Case("a range that runs backwards", ("run", "score", "--date", "2026-03-05", "--to",
         "2026-03-01"), "--to must be on or after --date", code=2),
    Case("settings that cannot work together", ("data", "log"), "cannot write",
         env=(("NIGHTJAR_RAW_READER", "s3a"),
              ("NIGHTJAR_WAREHOUSE_URI", "lakefs://warehouse/main/tables"))),
    Case("lakeFS that does not answer", ("data", "log"), "unreachable",
         env=(("NIGHTJAR_LAKEFS_ENDPOINT", f"http://127.0.0.1:{free_port()}"),
              ("NIGHTJAR_LAKEFS_ACCESS_KEY_ID", "AK"), ("NIGHTJAR_LAKEFS_SECRET_ACCESS_KEY", "s"))),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_gets_one_line_and_changes_nothing(world: World, case: Case):
    shell = world.shell
    before = _state(shell)
    tables = sorted(p.name for p in (shell.home / "warehouse").glob("*"))
    file = case.file(world) if case.file else ""
    args = [arg.format(file=file, merge=world.merge_commit) for arg in case.args]
    env = {**shell.env, **dict(case.env)}
    import subprocess

    result = subprocess.run(
        ["nightjar", *args], env=env, cwd=shell.workdir, capture_output=True, text=True,
        timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    said = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert result.returncode == case.code, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert len(said) == 1 and case.says in result.stderr, result.stderr
    retries = [line for line in result.stderr.splitlines() if "retrying" in line]
    assert len(retries) <= 1, retries  # one retry at most, one line each
    assert _state(shell) == before, "main or its branches changed"
    assert sorted(p.name for p in (shell.home / "warehouse").glob("*")) == tables


def test_the_cases_are_twenty_classes_or_more():
    assert len({case.name for case in CASES}) >= 20


def test_offsets_named_zones_and_naive_times_land_in_one_type_and_read_back(world: World):
    """Three days of one source, each file's timestamps written differently: a named zone
    in Parquet, -04:00 offsets in CSV, naive in Parquet. They land as one stored type,
    and a window across them reads back as one table of the dataset's wall clock."""
    from nightjar.core.dataset_config import load_dataset_config
    from nightjar.io import raw_tables

    shell = world.shell
    days = [DAY + dt.timedelta(days=i) for i in (10, 11, 12)]
    frames = [_applications(day) for day in days]
    zoned = frames[0].assign(
        event_ts=frames[0]["event_ts"].dt.tz_localize("UTC").dt.tz_convert("Europe/Paris")
    )
    offset = frames[1].assign(
        event_ts=frames[1]["event_ts"].dt.tz_localize("UTC").dt.tz_convert("Etc/GMT+4")
    )
    paths = [
        world.files / "zoned.parquet",
        world.files / "offset.csv",
        world.files / "naive.parquet",
    ]
    zoned.to_parquet(paths[0], index=False)
    offset.assign(event_ts=offset["event_ts"].map(lambda t: t.isoformat())).to_csv(
        paths[1], index=False
    )
    assert "-04:00" in paths[1].read_text()
    frames[2].to_parquet(paths[2], index=False)
    for day, path in zip(days, paths, strict=True):
        result = shell.run("nightjar", "data", "ingest", "applications", str(day), str(path))
        assert result.returncode == 0, result.stderr
    client, repo = _lakefs(shell)
    commit = repo.ref("main").get_commit().id
    config = load_dataset_config(Path(shell.env["NIGHTJAR_DATASET_CONFIG"]))
    path = config.sources["applications"].path
    types = set()
    for day in days:
        stored = raw_tables.read_partitions(client, "nightjar", commit, path, day, day)
        types.add(str(stored.schema.field("event_ts").type))
    assert types == {"timestamp[us]"}, types
    window = raw_tables.read_partitions(client, "nightjar", commit, path, days[0], days[-1])
    read = window.to_pandas()
    expected = pd.concat(frames, ignore_index=True)["event_ts"]
    assert sorted(read["event_ts"]) == sorted(expected)
    print(json.dumps({"stored": sorted(types), "rows": len(read)}))
