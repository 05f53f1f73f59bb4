"""`nightjar data`: the data engineer's lakeFS workflow, through the official SDK.

main is protected: data reaches it only through `nightjar data ingest` or `nightjar data
merge`, both of which validate the tables a branch changes before merging.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import click
import lakefs
from lakefs.exceptions import ConflictException

from nightjar.cli.settings import cli_dataset, cli_settings
from nightjar.core.names import parse_date, validate_branch
from nightjar.core.settings import Settings
from nightjar.ingest import landing as ingest_lib
from nightjar.io import raw_tables, snapshots
from nightjar.io.lakefs_client import call_with_retry, make_client

_PARTITION = re.compile(r"^(?P<table>.+)/date=(?P<date>\d{4}-\d{2}-\d{2})/")


def _lakefs_settings() -> Settings:
    """The settings of the dataset the command acts on (its lakeFS repository); with
    several datasets and none chosen, the shared repository's."""
    from nightjar.core.errors import ConfigError

    try:
        return cli_dataset()[0]
    except ConfigError:
        return cli_settings()


def _repo() -> tuple[lakefs.Client, lakefs.Repository]:
    settings = _lakefs_settings()
    client = make_client(settings)
    return client, lakefs.Repository(settings.lakefs_repository, client=client)


def _actor() -> str:
    return f"nightjar data ({os.environ.get('USER', 'unknown')})"


class DataGroup(click.Group):
    """A command that meets something missing in lakeFS says what: the repository (and
    how to create it), or the ref or object it was given."""

    def invoke(self, ctx: click.Context):
        """Turn lakeFS's NotFoundException into one line naming what is missing."""
        from lakefs.exceptions import NotFoundException

        from nightjar.cli.errors import one_line

        try:
            return super().invoke(ctx)
        except NotFoundException as missing:
            settings = _lakefs_settings()
            repo = lakefs.Repository(settings.lakefs_repository, client=make_client(settings))
            try:
                repo.properties  # noqa: B018 -- reads the repository from lakeFS
            except NotFoundException:
                raise click.ClickException(
                    f"lakeFS repository {settings.lakefs_repository!r} does not exist: "
                    "create it with `nightjar data init`"
                ) from None
            raise click.ClickException(one_line(missing)) from None


@click.group(cls=DataGroup)
def data() -> None:
    """Create, branch, ingest, commit, diff, merge, log and revert data in lakeFS."""


@data.command()
def init() -> None:
    """Create the lakeFS repositories and protect their main (idempotent).

    The shared repository NIGHTJAR_LAKEFS_REPOSITORY, and each dataset's own
    (``lakefs_repository`` in its config), in NIGHTJAR_LAKEFS_STORAGE_NAMESPACE (local://
    on the stand-in); with NIGHTJAR_WAREHOUSE_URI=lakefs://..., the warehouse's too.
    """
    from nightjar.core.datasets import load_datasets, settings_for

    settings = cli_settings()
    every = [
        settings,
        *(settings_for(settings, c) for c in load_datasets(settings).configs.values()),
    ]
    ready: list[str] = []
    for each in every:
        for name in ingest_lib.init_repositories(each):
            if name not in ready:
                ready.append(name)
                click.echo(f"repository {name}: ready")


@data.command()
@click.argument("name")
@click.option(
    "--from",
    "source",
    default=snapshots.MAIN,
    show_default=True,
    help="Ref to branch from (its committed head).",
)
def branch(name: str, source: str) -> None:
    """Create branch NAME (no-op if it exists)."""
    client, repo = _repo()
    created = call_with_retry(
        client,
        lambda: repo.branch(validate_branch(name)).create(source, exist_ok=True),
        what=f"create branch {name}",
    )
    click.echo(f"branch {name} at {created.get_commit().id[:12]}")


@data.command("ingest")
@click.argument("table")
@click.argument("date", required=False)
@click.argument("file", required=False, type=click.Path(path_type=Path))
@click.option(
    "--from-folder",
    "folder",
    type=click.Path(path_type=Path),
    help="Ingest every .parquet/.csv file under this folder instead of DATE FILE, each "
    "dated by the YYYY-MM-DD in its path, in one commit and one merge.",
)
@click.option(
    "--pattern",
    help="With --from-folder: only files whose name matches this glob (e.g. 'events*'), "
    "for a folder of several sources' files. Default: the source's `files:`, else all.",
)
@click.option("--from", "first", help="With --from-folder: the first date to ingest.")
@click.option("--to", "last", help="With --from-folder: the last date to ingest.")
@click.option(
    "--branch",
    "branch_name",
    help="Commit to this branch and stop there (review with `data diff`, land with "
    "`data merge`). Default: a branch ingest-TABLE-DATE, merged into main and deleted.",
)
@click.option("--message", "-m", help="Commit message.")
def ingest_cmd(
    table: str,
    date: str | None,
    file: Path | None,
    folder: Path | None,
    pattern: str | None,
    first: str | None,
    last: str | None,
    branch_name: str | None,
    message: str | None,
) -> None:
    """Validate FILE (Parquet or CSV) as TABLE's batch for DATE and merge it into main
    (or, with --branch, commit it on that branch only). With --from-folder DIR, every
    date's files under DIR land together: `nightjar data ingest events --from-folder
    exports/` for exports/events-2025-06-01.csv, exports/events-2025-06-02.csv, ...;
    for an export with a folder per date holding each source's file
    (exports/date=2025-06-01/events.parquet, .../weather.parquet), add --pattern
    'events*' (or set `files:` on the source), and --from/--to for a range.

    Bad data is refused with a report naming the date, the column, the rule and the
    count; when any date breaks the rules nothing is written and main does not change.
    Rows the rules will set aside later (under the quarantine threshold) are reported.
    """
    from nightjar.ingest.batch_files import dated_files, read_batch_file, read_batch_files

    settings, config = cli_dataset()
    if table not in config.sources:
        raise click.BadParameter(
            f"{table!r} is not a source of {config.name}: {sorted(config.sources)}",
            param_hint="TABLE",
        )
    source = config.sources[table]
    if folder is not None:
        if date or file:
            raise click.UsageError("give either DATE FILE or --from-folder DIR, not both")
        files = dated_files(
            folder,
            pattern=pattern or source.files,
            first=parse_date(first) if first else None,
            last=parse_date(last) if last else None,
        )
        with click.progressbar(
            files.items(), label=f"reading {len(files)} date(s)", file=_progress_stream()
        ) as dates:
            batches = [
                ingest_lib.Batch(table, day, read_batch_files(paths, source))
                for day, paths in dates
            ]
        origin = {"nightjar.source_folder": str(folder)}
        described = f"{folder.name}/"
        label = f"{batches[0].day:%Y%m%d}-{batches[-1].day:%Y%m%d}"
    elif pattern or first or last:
        raise click.UsageError("--pattern, --from and --to go with --from-folder DIR")
    elif date and file:
        day = parse_date(date)
        batches = [ingest_lib.Batch(table, day, read_batch_file(file, source))]
        origin = {"nightjar.source_file": file.name}
        described = file.name
        label = f"{day:%Y%m%d}"
    else:
        raise click.UsageError("give DATE FILE, or --from-folder DIR")
    to_main = branch_name is None
    branch_name = branch_name or f"ingest-{table}-{label}"
    first, last = batches[0].day, batches[-1].day
    span = str(first) if first == last else f"{first}..{last} ({len(batches)} dates)"
    rows = sum(len(batch.frame) for batch in batches)
    with click.progressbar(
        length=len(batches), label=f"uploading {table} {span}", file=_progress_stream()
    ) as uploaded:
        commit_id = ingest_lib.ingest(
            make_client(settings),
            config,
            settings.lakefs_repository,
            branch_name,
            batches,
            message=message or f"ingest {table} {span} from {described}",
            metadata={"nightjar.produced_by": _actor(), **origin},
            merge=to_main,
            progress=lambda _: uploaded.update(1),
        )
    if not to_main:
        click.echo(
            f"{table} {span}: {rows} rows validated; committed on {branch_name} as "
            f"{commit_id[:12]} (review: nightjar data diff {branch_name}; "
            f"land: nightjar data merge {branch_name})"
        )
        return
    click.echo(
        f"{table} {span}: {rows} rows validated; "
        + (f"merged into main as {commit_id[:12]}" if commit_id else "main already had them")
    )


def _progress_stream():
    """Progress bars go to stderr, so stdout keeps only the result line."""
    return click.get_text_stream("stderr")


def _not_main(branch_name: str, what: str) -> str:
    """The branch, unless it is main: main changes only through a validated merge, on any
    lakeFS (a real one lets a revert through its branch protection)."""
    validate_branch(branch_name)
    if branch_name == snapshots.MAIN:
        raise click.UsageError(
            f"main changes only through a validated merge: {what} on a branch "
            "(`nightjar data branch NAME`), then `nightjar data merge NAME`"
        )
    return branch_name


@data.command()
@click.argument("branch_name")
@click.option("--message", "-m", required=True)
def commit(branch_name: str, message: str) -> None:
    """Commit what is staged on BRANCH_NAME (not main: see `nightjar data merge`)."""
    _not_main(branch_name, "commit")
    client, repo = _repo()
    commit_id = snapshots.commit(
        client, repo.id, branch_name, message, {"nightjar.produced_by": _actor()}
    )
    click.echo(commit_id)


@data.command()
@click.argument("left")
@click.argument("right", default=snapshots.MAIN)
def diff(left: str, right: str) -> None:
    """What changed on LEFT relative to RIGHT (committed data)."""
    client, repo = _repo()
    changes = call_with_retry(client, lambda: list(repo.ref(right).diff(left)), what="diff")
    for change in changes:
        click.echo(f"{change.type:8} {change.path}")
    click.echo(f"{len(changes)} change(s)")


def _changed_partitions(repo: lakefs.Repository, client, source: str) -> set[tuple[str, dt.date]]:
    changes = call_with_retry(
        client, lambda: list(repo.ref(snapshots.MAIN).diff(source)), what="diff"
    )
    found = set()
    for change in changes:
        match = _PARTITION.match(change.path)
        if match and change.type != "removed":
            found.add((match["table"], dt.date.fromisoformat(match["date"])))
    return found


@data.command()
@click.argument("source")
@click.option("--message", "-m", help="Merge commit message.")
def merge(source: str, message: str | None) -> None:
    """Validate the tables SOURCE changes, then merge it into main."""
    _, config = cli_dataset()
    client, repo = _repo()
    head = repo.ref(source).get_commit().id
    by_path = {s.path: name for name, s in config.sources.items()}
    for table_path, day in sorted(_changed_partitions(repo, client, source)):
        name = by_path.get(table_path)
        if name is None:
            continue
        table = raw_tables.read_partitions(
            client, repo.id, head, table_path, day, day, timezone=config.timezone
        )
        if table is not None:
            frame = table.drop_columns(["_partition_date"]).to_pandas()
            ingest_lib.validate_batch(config, ingest_lib.Batch(name, day, frame))
    try:
        merged = snapshots.merge_into_main(
            client,
            repo.id,
            source,
            {"nightjar.produced_by": _actor()},
            message=message,
        )
    except ConflictException:
        conflicts = [c.path for c in repo.ref(snapshots.MAIN).diff(source) if c.type == "conflict"]
        raise click.ClickException(
            f"merging {source} into main conflicts: both changed the same objects since they "
            f"diverged{': ' + ', '.join(conflicts) if conflicts else ''}. Reset or revert one "
            "side, or re-ingest on a fresh branch from main."
        ) from None
    click.echo(f"merged {source} into main as {merged[:12]}" if merged else "nothing to merge")


@data.command()
@click.argument("ref", default=snapshots.MAIN)
@click.option("-n", "amount", default=20, show_default=True, type=click.IntRange(1, 1000))
def log(ref: str, amount: int) -> None:
    """Commits reachable from REF, newest first, with their lineage metadata."""
    client, repo = _repo()
    for entry in call_with_retry(
        client, lambda: list(repo.ref(ref).log(max_amount=amount)), what="log"
    ):
        when = dt.datetime.fromtimestamp(entry.creation_date, dt.UTC)
        click.echo(f"{entry.id[:12]}  {when:%Y-%m-%d %H:%M}  {entry.committer}  {entry.message}")
        for key, value in sorted((entry.metadata or {}).items()):
            click.echo(f"              {key}: {value}")


@data.command()
@click.argument("branch_name")
@click.argument("commit_ref")
@click.option(
    "--parent",
    "parent_number",
    default=0,
    type=int,
    help="For a merge commit: the parent (1 or 2) to revert relative to.",
)
def revert(branch_name: str, commit_ref: str, parent_number: int) -> None:
    """Undo COMMIT_REF on BRANCH_NAME with a new commit. Not on main: revert on a branch of
    it, then `nightjar data merge` the branch (the merge validates what it changes).

    \b
    Example, undoing merge commit 4f2a9c1 of main:
      nightjar data branch undo-4f2a9c1
      nightjar data revert undo-4f2a9c1 4f2a9c1 --parent 1
      nightjar data merge undo-4f2a9c1
    """
    _not_main(branch_name, "revert")
    client, repo = _repo()
    branch_obj = repo.branch(branch_name)
    call_with_retry(
        client,
        lambda: branch_obj.revert(commit_ref, parent_number=parent_number),
        what=f"revert {commit_ref}",
    )
    click.echo(f"reverted {commit_ref} on {branch_name}: head {branch_obj.get_commit().id[:12]}")


@data.command("prune-branches")
@click.option("--older-than-days", default=14, show_default=True, type=click.IntRange(0))
def prune_branches(older_than_days: int) -> None:
    """Delete run branches (run-*) whose last commit is older than N days."""
    client, repo = _repo()
    pruned = snapshots.prune_run_branches(
        client, repo.id, older_than=dt.timedelta(days=older_than_days), now=dt.datetime.now(dt.UTC)
    )
    click.echo("\n".join(pruned) or "no run branch old enough to prune")
