"""The ``nightjar`` command: demo, embedded stack, analysts' queries, models and features."""

from __future__ import annotations

import logging
import os
import sys

import click

from nightjar.core.settings import Settings, load_settings
from nightjar.core.vocabulary import TAG_GATE


def _settings() -> Settings:
    return load_settings()


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("py4j", "urllib3", "alembic", "botocore", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class NightjarGroup(click.Group):
    """Turn Nightjar's expected errors into one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context):
        from nightjar.core.errors import NightjarError

        try:
            return super().invoke(ctx)
        except NightjarError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=NightjarGroup)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """Nightjar: batch scoring and scheduled retraining on Airflow, lakeFS, MLflow and Delta.

    Settings come from NIGHTJAR_* environment variables (see .env.example); with none set,
    everything runs on the embedded stack under ./.nightjar.
    """
    _configure_logging(verbose)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


# --- demo and stack -----------------------------------------------------------------------


@main.command()
@click.option(
    "--nights",
    default=7,
    show_default=True,
    type=click.IntRange(1, 30),
    help="Nightly batches to score after the first model is promoted.",
)
def demo(nights: int) -> None:
    """Run the whole loop through Airflow's scheduler on the embedded stack.

    Ingests seeded demo data into lakeFS; starts Airflow (api-server, scheduler, DAG
    processor, triggerer) on NIGHTJAR_AIRFLOW_PORT; trains and promotes a first model;
    scores NIGHTS nightly batches into Delta, each followed by the monitoring run the
    scores Asset starts (and any retrain that drift requests); stops Airflow; prints what
    happened. Full logs go to NIGHTJAR_HOME/logs/demo.log and NIGHTJAR_HOME/airflow/logs.
    Safe to run again: it replaces the same partitions with the same rows.
    """
    import signal

    from nightjar.cli.summary import print_retrains, print_summary
    from nightjar.core.dataset_config import load_dataset_config
    from nightjar.embedded import scheduler_runs
    from nightjar.embedded.supervisor import EmbeddedStack
    from nightjar.io.spark import require_java

    settings = _settings()
    config = load_dataset_config(settings.dataset_config)
    require_java()
    _log_to_file(settings.home_dir / "logs" / "demo.log")
    signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))
    with EmbeddedStack(settings):
        runner = scheduler_runs.run_demo(settings, config, nights=nights)
    print_summary(settings, config)
    print_retrains(runner.retrains)


RUNNABLE_DAGS = {
    "retrain": "nightjar_retrain",
    "score": "nightjar_score",
    "monitor": "nightjar_monitor",
}
MAX_RUN_DATES = 366


@main.command("run")
@click.argument("what", type=click.Choice(sorted(RUNNABLE_DAGS)))
@click.option("--date", "first", required=True, help="The date (YYYY-MM-DD) to run for.")
@click.option("--to", "last", help="Last date of a range (inclusive): one run per date.")
@click.option("--force", is_flag=True, help="retrain: train even inside the cooldown.")
def run_dag(what: str, first: str, last: str | None, force: bool) -> None:
    """Run a Nightjar DAG for a date, or for each date of a range, through the scheduler.

    Uses the Airflow that `nightjar airflow` serves for this home when it is up;
    otherwise starts one (with time schedules off) for the duration and stops it after.
    Runs are manual runs with conf {"date": ...}, so any date of your data's past works.
    Prints one line per run; exits 1 if any run failed, naming its failed tasks and logs.

    \b
    Examples:
      nightjar run retrain --date 2026-02-28 --force
      nightjar run score --date 2026-02-01 --to 2026-02-07
    """
    import datetime as dt

    from nightjar.core.names import parse_date
    from nightjar.embedded import scheduler_runs
    from nightjar.embedded.supervisor import EmbeddedStack

    start = parse_date(first)
    end = parse_date(last) if last else start
    if end < start or (end - start).days >= MAX_RUN_DATES:
        raise click.BadParameter(
            f"--to must be on or after --date, within {MAX_RUN_DATES} days", param_hint="--to"
        )
    dates = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    conf = {"force": True} if force else {}
    settings = _settings()
    with EmbeddedStack(settings):
        failed = scheduler_runs.run_dates(settings, RUNNABLE_DAGS[what], dates, conf)
    if what == "score":
        from nightjar.cli.summary import print_scored
        from nightjar.core.dataset_config import load_dataset_config

        print_scored(settings, load_dataset_config(settings.dataset_config), start, end)
    if failed:
        raise click.ClickException(f"{failed} of {len(dates)} run(s) failed")


def _log_to_file(path) -> None:
    """Send Nightjar's log (and its libraries') to ``path`` instead of the console."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.getLogger().handlers[0].formatter)
    logging.getLogger().handlers = [handler]


@main.group()
def stack() -> None:
    """Start, stop and inspect the embedded stack's lakeFS stand-in."""


@stack.command("up")
def stack_up() -> None:
    """Start the lakeFS stand-in in the background (for `make airflow` and the CLI)."""
    from nightjar.embedded.supervisor import EmbeddedStack

    settings = _settings()
    embedded = EmbeddedStack(settings, detach=True)
    embedded.start()
    click.echo(f"lakeFS stand-in: {embedded.endpoint} (data in {settings.standin_dir})")


@stack.command("down")
def stack_down() -> None:
    """Stop a stand-in started with `nightjar stack up`."""
    from nightjar.embedded.supervisor import stop_detached

    stopped = stop_detached(_settings())
    click.echo("stopped the lakeFS stand-in" if stopped else "no stand-in was running")


@stack.command("status")
def stack_status() -> None:
    """Say what is running and where the embedded state lives."""
    from nightjar.embedded.supervisor import running_standin_pid

    settings = _settings()
    pid = running_standin_pid(settings)
    state = f"running, pid {pid}" if pid else "not running"
    click.echo(f"home:      {settings.home_dir}")
    click.echo(f"lakeFS:    {settings.lakefs_endpoint or 'stand-in'} ({state})")
    click.echo(f"MLflow:    {settings.mlflow_uri}")
    click.echo(f"warehouse: {settings.warehouse}")


@main.command()
def airflow() -> None:
    """Run Airflow with Nightjar's DAGs on 127.0.0.1 until Ctrl-C or SIGTERM.

    Starts the lakeFS stand-in (unless `nightjar stack up` left one running), the MLflow UI
    at NIGHTJAR_MLFLOW_UI_URL, and Airflow's api-server, scheduler, DAG processor and
    triggerer on NIGHTJAR_AIRFLOW_PORT (default 8080), each as production runs it. Stopping
    stops every one of them; component logs are under NIGHTJAR_HOME/airflow/logs/.
    """
    import signal

    from nightjar.embedded.airflow_stack import AirflowStack, stack_env
    from nightjar.embedded.supervisor import EmbeddedStack, start_mlflow_ui

    settings = _settings()
    stack = AirflowStack(
        settings, stack_env(settings), log_dir=settings.home_dir / "airflow" / "logs" / "stack"
    )
    stack.check_port()
    # SIGTERM (a supervisor, `timeout`, `kill`) stops everything the way Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))
    mlflow_ui = None
    with EmbeddedStack(settings):
        try:
            mlflow_ui = start_mlflow_ui(settings, settings.home_dir / "mlflow" / "server.log")
            stack.start()
            stack.wait_until_healthy()
            click.echo(f"Airflow UI: {stack.base_url}")
            click.echo(f"MLflow UI:  {settings.mlflow_ui_url}")
            click.echo(
                f"admin password: {stack.env['AIRFLOW_HOME']}/"
                "simple_auth_manager_passwords.json.generated"
            )
            click.echo(f"logs: {stack.log_dir}   (Ctrl-C stops everything)")
            stack.watch()
        except KeyboardInterrupt:
            click.echo("stopping Airflow")
        finally:
            stack.stop()
            if mlflow_ui is not None:
                os.killpg(mlflow_ui.pid, signal.SIGTERM)
                mlflow_ui.wait(timeout=30)


# --- analysts -----------------------------------------------------------------------------


@main.command()
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

    settings = _settings()
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
    try:
        pinned |= versions_at_commits(settings, at_commit)
    except (KeyError, ValueError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from exc
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


# --- models -------------------------------------------------------------------------------


@main.group()
def model() -> None:
    """Registry: alias history, rollback and manual promotion."""


def _dataset_config():
    from nightjar.core.dataset_config import load_dataset_config

    return load_dataset_config(_settings().dataset_config)


def _model_name(name: str | None) -> str:
    return name or _dataset_config().model.name


@model.command("history")
@click.option("--name", help="Registered model (default: the dataset config's model).")
def model_history(name: str | None) -> None:
    """Every alias move: when, from which version to which, by whom and why."""
    from nightjar.promotion.registry import history

    frame = history(_settings(), _model_name(name))
    click.echo(frame.to_string(index=False) if len(frame) else "no alias moves recorded yet")


@model.command("rollback")
@click.option("--name", help="Registered model (default: the dataset config's model).")
@click.option("--to", "to_version", help="Version to restore (default: the previous champion).")
@click.option("--reason", default="manual rollback", show_default=True)
def model_rollback(name: str | None, to_version: str | None, reason: str) -> None:
    """Make a previous version the champion again, recorded in the alias history."""
    from nightjar.promotion.registry import rollback

    move = rollback(
        _settings(),
        _model_name(name),
        to_version=to_version,
        actor=f"cli:{os.environ.get('USER', 'unknown')}",
        reason=reason,
    )
    click.echo(f"{move.model_name}@champion: v{move.from_version} -> v{move.to_version}")


@model.command("promote")
@click.option("--name", help="Registered model (default: the dataset config's model).")
@click.option("--version", required=True, help="The challenger version to promote.")
@click.option("--reason", default="manual promotion", show_default=True)
@click.option(
    "--force",
    is_flag=True,
    help="Promote even with fewer shadow nights than the policy's min_shadow_nights.",
)
def model_promote(name: str | None, version: str, reason: str, force: bool) -> None:
    """Promote a version to champion once it has passed the evaluation gate.

    Prints the version's shadow comparison with the champion; with the gate policy's
    min_shadow_nights > 0, refuses a version with fewer compared nights unless --force.
    """
    from nightjar.core.gate_policy import load_policy
    from nightjar.io import tracking
    from nightjar.promotion.registry import promote
    from nightjar.promotion.rule import may_promote
    from nightjar.scoring import shadow

    settings = _settings()
    config = _dataset_config()
    name = name or config.model.name
    mlflow_client = tracking.client(settings)
    run_id = mlflow_client.get_model_version(name, version).run_id
    gate_passed = mlflow_client.get_run(run_id).data.tags.get(TAG_GATE) == "passed"
    nights = shadow.history(settings, config, version) if gate_passed else None
    if nights is not None:
        _echo_comparison(nights, version)
    verdict = may_promote(
        load_policy(config.gate_policy),
        version=version,
        gate_passed=gate_passed,
        shadow_nights=0 if nights is None else len(nights),
        by_person=True,
        force=force,
    )
    if not verdict.allowed:
        raise click.ClickException(f"{name} {verdict.reason}")
    if len(nights):
        reason = f"{reason} (shadow: {len(nights)} nights, {_agreement(nights)} agreement)"
    move = promote(
        settings, name, version, actor=f"cli:{os.environ.get('USER', 'unknown')}", reason=reason
    )
    click.echo(f"{name}@champion -> v{version}" if move else f"v{version} is already champion")


def _agreement(nights) -> str:
    return f"{100 * nights['decision_agreement'].mean():.1f}%"


def _echo_comparison(nights, version: str) -> None:
    if nights.empty:
        click.echo(f"v{version} has no shadow nights yet")
        return
    from nightjar.scoring.shadow import SUMMARY_COLUMNS

    table = nights[SUMMARY_COLUMNS].to_string(index=False, float_format=lambda v: f"{v:.4f}")
    click.echo(table)
    click.echo(f"{len(nights)} nights, {_agreement(nights)} mean decision agreement")


@model.command("compare")
@click.option("--version", help="Challenger version (default: the current challenger).")
def model_compare(version: str | None) -> None:
    """Show the challenger's nightly shadow comparison with the champion."""
    from nightjar.promotion import registry
    from nightjar.scoring import shadow

    settings = _settings()
    config = _dataset_config()
    version = version or registry.version_for_alias(settings, config.model.name, "challenger")
    if version is None:
        raise click.ClickException(f"{config.model.name} has no challenger; pass --version")
    _echo_comparison(shadow.history(settings, config, version), version)


# --- features -----------------------------------------------------------------------------


@main.group()
def features() -> None:
    """The dataset's features and their lineage."""


@features.command("describe")
def features_describe() -> None:
    """Each feature: definition, sources, owner, checks; and the feature-spec version."""
    from nightjar.features.catalog import describe

    click.echo(describe(_dataset_config()))


# --- gate ---------------------------------------------------------------------------------


@main.group()
def gate() -> None:
    """The evaluation gate a challenger must pass to be promoted."""


@gate.command("explain")
def gate_explain() -> None:
    """Print the dataset's gate policy: each setting, its value, and whether the policy
    file set it or Nightjar's default applies. The example policy's thresholds are tuned
    to the demo data: set your own for your model."""
    from nightjar.core.gate_policy import explain_policy

    click.echo(explain_policy(_dataset_config().gate_policy))


def _register_subgroups() -> None:
    from nightjar.cli.data import data

    main.add_command(data)


_register_subgroups()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
