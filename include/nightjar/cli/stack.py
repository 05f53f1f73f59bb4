"""Operators' commands: the demo, the embedded stack, Airflow, and running the DAGs for dates."""

from __future__ import annotations

import logging
import os
import sys

import click

from nightjar.cli.settings import cli_dataset, cli_settings


@click.command()
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
    processor, triggerer) on NIGHTJAR_AIRFLOW_PORT, or uses the one `nightjar airflow`
    serves for this home; trains and promotes a first model; scores NIGHTS nightly batches
    into Delta, each followed by the monitoring run the scores Asset starts (and any
    retrain that drift requests); stops the Airflow it started; prints what happened.
    Full logs go to NIGHTJAR_HOME/logs/demo.log and NIGHTJAR_HOME/airflow/logs.
    Safe to run again: it replaces the same partitions with the same rows.
    """
    import signal

    from nightjar.cli.summary import print_retrains, print_summary
    from nightjar.embedded import scheduler_runs
    from nightjar.embedded.supervisor import EmbeddedStack
    from nightjar.io.spark import require_java

    settings, config = cli_dataset()
    require_java()
    _log_to_file(settings.home_dir / "logs" / "demo.log")
    signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))
    with EmbeddedStack(settings):
        runner = scheduler_runs.run_demo(settings, config, nights=nights)
    print_summary(settings, config)
    print_retrains(runner.retrains)


RUNNABLE_STAGES = ("monitor", "retrain", "score")
MAX_RUN_DATES = 366


@click.command("run")
@click.argument("what", type=click.Choice(RUNNABLE_STAGES))
@click.option("--date", "first", required=True, help="The date (YYYY-MM-DD) to run for.")
@click.option("--to", "last", help="Last date of a range (inclusive): one run per date.")
@click.option("--force", is_flag=True, help="retrain: train even inside the cooldown.")
def run_dag(what: str, first: str, last: str | None, force: bool) -> None:
    """Run the dataset's Nightjar DAG for a date, or for each date of a range, through the
    scheduler (``--dataset`` picks the dataset when there are several).

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
    end = start if last is None else parse_date(last)  # an empty --to is an error, not absent
    if end < start or (end - start).days >= MAX_RUN_DATES:
        raise click.BadParameter(
            f"--to must be on or after --date, within {MAX_RUN_DATES} days", param_hint="--to"
        )
    dates = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    from nightjar.core.vocabulary import dag_id

    conf = {"force": True} if force else {}
    settings, config = cli_dataset()
    with EmbeddedStack(settings):
        failed = scheduler_runs.run_dates(settings, dag_id(what, config.name), dates, conf)
    if what == "score":
        from nightjar.cli.summary import print_scored

        print_scored(settings, config, start, end)
    if failed:
        raise click.ClickException(f"{failed} of {len(dates)} run(s) failed")


def _log_to_file(path) -> None:
    """Send Nightjar's log (and its libraries') to ``path`` instead of the console."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.getLogger().handlers[0].formatter)
    logging.getLogger().handlers = [handler]


@click.group()
def stack() -> None:
    """Start, stop and inspect the embedded stack's lakeFS stand-in."""


@stack.command("up")
def stack_up() -> None:
    """Start the lakeFS stand-in in the background (for `make airflow` and the CLI)."""
    from nightjar.embedded.supervisor import EmbeddedStack

    settings = cli_settings()
    if settings.lakefs_endpoint:
        click.echo(
            f"lakeFS: {settings.lakefs_endpoint} (NIGHTJAR_LAKEFS_ENDPOINT): nothing to start"
        )
        return
    embedded = EmbeddedStack(settings, detach=True)
    embedded.start()
    click.echo(f"lakeFS stand-in: {embedded.endpoint} (data in {settings.standin_dir})")


@stack.command("down")
def stack_down() -> None:
    """Stop a stand-in started with `nightjar stack up`."""
    from nightjar.embedded.supervisor import stop_detached

    stopped = stop_detached(cli_settings())
    click.echo("stopped the lakeFS stand-in" if stopped else "no stand-in was running")


@stack.command("status")
def stack_status() -> None:
    """Say what is running and where the embedded state lives."""
    from nightjar.embedded.supervisor import running_standin_pid

    settings = cli_settings()
    click.echo(f"home:      {settings.home_dir}")
    if settings.lakefs_endpoint:
        click.echo(f"lakeFS:    {settings.lakefs_endpoint} ({_answers(settings)})")
    else:
        pid = running_standin_pid(settings)
        state = f"running, pid {pid}" if pid else "not running"
        click.echo(f"lakeFS:    stand-in on 127.0.0.1:{settings.lakefs_standin_port} ({state})")
    click.echo(f"MLflow:    {settings.mlflow_uri}")
    click.echo(f"warehouse: {settings.warehouse}")


def _answers(settings) -> str:
    """Whether an external lakeFS answers its health check, in words."""
    import httpx

    url = f"{settings.lakefs_endpoint.rstrip('/').removesuffix('/api/v1')}/api/v1/healthcheck"
    try:
        status = httpx.get(url, timeout=5).status_code
    except httpx.HTTPError as exc:
        return f"external; not answering: {type(exc).__name__}"
    return "external; answering" if status < 400 else f"external; health check answered {status}"


@click.group()
def spark() -> None:
    """Spark's JVM side: the pinned jars its Delta and s3a paths need."""


@spark.command("fetch-jars")
def spark_fetch_jars() -> None:
    """Fetch the pinned delta-spark, hadoop-aws and AWS SDK jars, checking each SHA-256.

    Downloads from Maven Central (NIGHTJAR_MAVEN_REPOSITORY: a mirror) into
    NIGHTJAR_SPARK_JARS, by default ~/.cache/nightjar/jars, about 700 MB the first time;
    a jar already there is kept, so later runs work offline. `make install` runs this.
    """
    from nightjar.io.spark import java_missing
    from nightjar.io.spark_jars import fetch_jars

    settings = cli_settings()

    def progress(artifact, action: str) -> None:
        if action == "fetching":
            click.echo(f"  fetching {artifact.file_name}")

    paths = fetch_jars(settings, progress=progress)
    size = sum(path.stat().st_size for path in paths) / 1e6
    click.echo(f"{len(paths)} pinned jars ({size:,.0f} MB) in {settings.spark_jars_path}")
    if problem := java_missing():
        click.echo(f"warning: {problem}", err=True)


@click.group(invoke_without_command=True)
@click.pass_context
def airflow(ctx: click.Context) -> None:
    """Run Airflow with Nightjar's DAGs on 127.0.0.1 until Ctrl-C or SIGTERM.

    Starts the lakeFS stand-in (unless `nightjar stack up` left one running), the MLflow UI
    at NIGHTJAR_MLFLOW_UI_URL, and Airflow's api-server, scheduler, DAG processor and
    triggerer on NIGHTJAR_AIRFLOW_PORT (default 8080), each as production runs it. Stopping
    stops every one of them; component logs are under NIGHTJAR_HOME/airflow/logs/.

    With AIRFLOW__CORE__EXECUTOR=CeleryExecutor the scheduler queues tasks on the broker
    (AIRFLOW__CELERY__BROKER_URL) and `nightjar airflow worker` runs them, on this machine
    or others.
    """
    if ctx.invoked_subcommand is None:
        _serve()


@airflow.command("worker")
@click.option("--name", required=True, help="The worker's name, unique among workers.")
@click.option("--concurrency", default=2, show_default=True, help="Tasks it runs at once.")
@click.option(
    "--serve-logs/--skip-serve-logs",
    default=True,
    show_default=True,
    help="Serve its task logs to the API server (on AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT); "
    "skip when the logs folder is shared with it.",
)
def worker(name: str, concurrency: int, serve_logs: bool) -> None:
    """Run a Celery worker for Nightjar's DAGs until Ctrl-C or SIGTERM.

    For the CeleryExecutor: the scheduler of `nightjar airflow` (or the production stack)
    puts tasks on the broker, and each worker runs them in its own processes, working
    directory and NIGHTJAR_HOME, as on its own machine. It imports Nightjar's stack once,
    before Celery forks its pool, so its tasks start warm. Everything its tasks share lives
    in the warehouse (NIGHTJAR_WAREHOUSE_URI), lakeFS and MLflow (the Airflow connections
    lakefs_default and mlflow_default, else NIGHTJAR_LAKEFS_ENDPOINT and
    NIGHTJAR_MLFLOW_TRACKING_URI), the reports folder (NIGHTJAR_REPORTS_ROOT) and
    Airflow's database: set them, the broker, AIRFLOW__API_AUTH__JWT_SECRET and
    AIRFLOW__CORE__EXECUTION_API_SERVER_URL as the scheduler has them.
    """
    import subprocess

    from nightjar.core.errors import StackError
    from nightjar.core.names import validate_host_label
    from nightjar.embedded.airflow_stack import celery_worker_command, stack_env

    settings = cli_settings()
    env = stack_env(settings)
    command = celery_worker_command(
        env, validate_host_label(name, what="worker name"), concurrency, serve_logs=serve_logs
    )
    (settings.home_dir / "airflow").mkdir(parents=True, exist_ok=True)
    click.echo(f"Celery worker {name}: {concurrency} task(s) at once (Ctrl-C stops it)")
    try:
        raise SystemExit(subprocess.call(command, env=env))
    except KeyboardInterrupt:
        click.echo(f"stopping worker {name}")
    except OSError as exc:
        raise StackError(f"could not start the Celery worker: {exc}") from None


def _serve() -> None:
    """``nightjar airflow``: the stand-in, the MLflow UI and Airflow's components."""
    import signal

    from nightjar.embedded.airflow_stack import AirflowStack, stack_env
    from nightjar.embedded.supervisor import EmbeddedStack, start_mlflow_ui

    settings = cli_settings()
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
            stack.prepare_dags()
            click.echo(f"Airflow UI: {stack.base_url}")
            click.echo(f"MLflow UI:  {settings.mlflow_ui_url}")
            click.echo(
                f"admin password: {stack.env['AIRFLOW_HOME']}/"
                "simple_auth_manager_passwords.json.generated"
            )
            click.echo(f"logs: {stack.log_dir}   (Ctrl-C stops everything)")
            if stack.env.get("AIRFLOW__CORE__EXECUTOR", "").endswith("CeleryExecutor"):
                click.echo("tasks run on Celery workers: `nightjar airflow worker --name NAME`")
            stack.watch()
        except KeyboardInterrupt:
            click.echo("stopping Airflow")
        finally:
            stack.stop()
            if mlflow_ui is not None:
                os.killpg(mlflow_ui.pid, signal.SIGTERM)
                mlflow_ui.wait(timeout=30)
