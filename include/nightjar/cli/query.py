"""Analysts' command: SQL over the Delta tables, at a version or a lakeFS commit."""

from __future__ import annotations

import click

from nightjar.cli.settings import cli_settings


@click.command()
@click.argument("sql", required=False)
@click.option(
    "--version",
    "versions",
    multiple=True,
    metavar="TABLE=N",
    help="Read TABLE as of Delta version N (time travel); repeatable.",
)
@click.option(
    "--at-commit",
    "commits",
    multiple=True,
    metavar="TABLE=COMMIT",
    help="Read TABLE as of its newest version written from lakeFS commit COMMIT (a full id "
    "or a prefix of 7+ characters); repeatable.",
)
@click.option("--tables", "list_tables", is_flag=True, help="List the tables and exit.")
def query(sql: str, versions: tuple[str, ...], commits: tuple[str, ...], list_tables: bool) -> None:
    """Run SQL (DuckDB) over the Delta tables, each a view named after its table.

    \b
    Examples:
      nightjar query "SELECT score_date, count(*), avg(probability)
                      FROM scores GROUP BY 1 ORDER BY 1"
      nightjar query --version scores_credit_default=3 "SELECT count(*) FROM scores"
      nightjar query --at-commit scores_credit_default=4f2a9c1 "SELECT ... FROM scores"
    """
    from nightjar.io.analytics import run_query, table_names, versions_at_commits

    settings = cli_settings()
    if list_tables:
        click.echo("\n".join(table_names(settings)))
        return
    if not sql:
        raise click.UsageError("give the SQL to run, or --tables to list the tables")
    pinned = {}
    for item in versions:
        name, _, number = item.partition("=")
        if not number.isdigit():
            raise click.BadParameter(f"{item!r}: expected TABLE=N", param_hint="--version")
        pinned[name] = int(number)
    at_commit = {}
    for item in commits:
        name, _, commit = item.partition("=")
        if not commit:
            raise click.BadParameter(f"{item!r}: expected TABLE=COMMIT", param_hint="--at-commit")
        at_commit[name] = commit
    pinned |= versions_at_commits(settings, at_commit)
    import duckdb
    import pandas as pd

    try:
        result = run_query(settings, sql, pinned)
    except duckdb.Error as exc:
        raise click.ClickException(f"query failed: {exc}") from None
    with pd.option_context(
        "display.max_rows", 200, "display.width", 200, "display.max_columns", 50
    ):
        click.echo(result.to_string(index=False))
