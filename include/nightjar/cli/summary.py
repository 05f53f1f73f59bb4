"""What ``nightjar demo`` and ``nightjar run score`` print at the end: what happened and
where to look."""

from __future__ import annotations

import datetime as dt

import click
import pandas as pd

from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.settings import Settings
from nightjar.io.analytics import run_query, table_names
from nightjar.promotion import registry


def _quarantined_per_date(settings: Settings, config: DatasetConfig) -> str:
    """A SQL expression: the raw rows set aside for ``score_date``, from every source
    (the quarantine table appears with the first set-aside row)."""
    table = config.quarantine_table
    if table not in table_names(settings):
        return "0"
    return f"(SELECT count(*) FROM {table} WHERE partition_date = score_date)"


def scored_per_date(
    settings: Settings,
    config: DatasetConfig,
    dates: tuple[dt.date, dt.date] | None = None,
) -> pd.DataFrame:
    """Rows scored per date, next to the raw rows the rules set aside for it, the mean
    probability and the model version; every scored date, or those in ``dates``."""
    where = f"WHERE score_date BETWEEN DATE '{dates[0]}' AND DATE '{dates[1]}'" if dates else ""
    return run_query(
        settings,
        f"SELECT score_date, count(*) AS rows, {_quarantined_per_date(settings, config)} "
        f"AS quarantined, round(avg(probability), 4) AS mean_probability, "
        f"any_value(model_version) AS model_version "
        f"FROM {config.table_name('scores')} {where} GROUP BY 1 ORDER BY 1",
    )


def print_scored(settings: Settings, config: DatasetConfig, start: dt.date, end: dt.date) -> None:
    """What ``nightjar run score`` scored (quarantined: raw rows the rules set aside)."""
    per_date = scored_per_date(settings, config, (start, end))
    if per_date.empty:
        click.echo(f"no scores for {start}..{end}")
        return
    click.echo("rows scored per date (quarantined: raw rows the rules set aside):")
    click.echo("  " + per_date.to_string(index=False).replace("\n", "\n  "))


def print_summary(settings: Settings, config: DatasetConfig) -> None:
    """What ``nightjar demo`` did: the champion, rows scored per date, the retrain decisions
    and where to look next."""
    scores = config.table_name("scores")
    champion = registry.version_for_alias(settings, config.model.name, registry.CHAMPION)
    per_date = scored_per_date(settings, config)
    decisions = run_query(  # appended to: the newest decision of each night is in force
        settings,
        "SELECT decision_date, arg_max(fired, decided_at) AS fired, "
        "arg_max(reason, decided_at) AS reason "
        f"FROM {config.table_name('retrain_decisions')} GROUP BY 1 ORDER BY 1",
    )
    reports = sorted(settings.reports_dir(config.name).glob("*.html"))
    click.echo("\n" + "=" * 72)
    click.echo(f"Nightjar demo: {config.name}")
    click.echo(f"champion:       {config.model.name} v{champion}")
    click.echo("rows scored per date (quarantined: raw rows the rules set aside):")
    click.echo("  " + per_date.to_string(index=False).replace("\n", "\n  "))
    click.echo("retrain decisions (loop guard):")
    click.echo("  " + decisions.to_string(index=False).replace("\n", "\n  "))
    click.echo(f"Delta tables:   {settings.warehouse}")
    click.echo(f"drift report:   {reports[-1] if reports else 'none'}")
    click.echo(
        f"Airflow + MLflow UIs: .venv/bin/nightjar airflow (MLflow at {settings.mlflow_ui_url}, "
        f"store {settings.mlflow_uri})"
    )
    click.echo("try a query:")
    click.echo(
        f'  .venv/bin/nightjar query "SELECT score_date, decision, count(*) FROM {scores} '
        'GROUP BY ALL ORDER BY ALL"'
    )
    click.echo("=" * 72)


def print_retrains(retrains: list[dict]) -> None:
    """What each drift-triggered retrain did (``nightjar demo`` through the scheduler)."""
    if not retrains:
        click.echo("drift-triggered retrains: none was requested")
        return
    click.echo("drift-triggered retrains:")
    for retrain in retrains:
        click.echo(f"  requested by {retrain['requested_by']}: {retrain['result']}")
