"""``nightjar explain``: which model and which data produced one score."""

from __future__ import annotations

import click

from nightjar.cli.settings import cli_dataset


@click.command()
@click.argument("entity")
@click.option("--date", "day", required=True, metavar="YYYY-MM-DD", help="The score date.")
@click.option("--table", default="", help="Scores table (default: the dataset's scores).")
@click.option("--json", "as_json", is_flag=True, help="Print the chain as JSON, for tools.")
def explain(entity: str, day: str, table: str, as_json: bool) -> None:
    """Follow ENTITY's score on --date back to everything that produced it.

    \b
    Prints, from Nightjar's tables, MLflow and lakeFS:
      - the score, the decision and the threshold;
      - the model version, its aliases then, how it became champion, the gate decision;
      - the training run, its lakeFS commit and date range, the code commit;
      - the feature spec and the feature values the model saw;
      - the input lakeFS commit and the raw objects of that day;
      - the DAG run.

    \b
    Example:
      nightjar explain C000123 --date 2026-03-05
    """
    from nightjar.core.names import parse_date, validate_identifier
    from nightjar.embedded.supervisor import EmbeddedStack
    from nightjar.lineage.explain import explain as explain_score
    from nightjar.lineage.explain import render_text

    if len(entity) > 256:
        raise click.BadParameter("longer than 256 characters", param_hint="ENTITY")
    settings, config = cli_dataset()
    if table:
        validate_identifier(table, what="table")
    with EmbeddedStack(settings):  # lakeFS: the stand-in, started only if it is not up
        explanation = explain_score(settings, config, entity, parse_date(day), table=table)
    click.echo(explanation.to_json() if as_json else render_text(explanation))
