"""``nightjar datasets``: every dataset this Nightjar serves, and where each stands."""

from __future__ import annotations

import dataclasses

import click

from nightjar.cli.settings import cli_settings

COLUMNS = ("dataset", "champion", "last night", "nights", "gaps", "failed runs", "last gate")


def _failed_runs(settings, names: list[str]) -> dict | None:
    """Per dataset, the dates whose newest scoring run failed, from the Airflow this home
    serves; None when it is not up (the column then says "?")."""
    from nightjar.embedded.airflow_api import AirflowAPI, failed_scoring_runs
    from nightjar.embedded.airflow_stack import port_is_taken

    if not port_is_taken(settings.airflow_port):
        return None
    try:
        api = AirflowAPI.login(
            f"http://127.0.0.1:{settings.airflow_port}", settings.home_dir / "airflow", timeout=5
        )
        return {name: failed_scoring_runs(api, name) for name in names}
    except Exception:  # another service on the port, or an Airflow that is not ours
        return None


def _row(status) -> tuple[str, ...]:
    champion = f"{status.model_name} v{status.champion}" if status.champion else "none"
    failed = "?" if status.failed_runs is None else str(status.failed_runs)
    return (
        status.dataset,
        champion,
        str(status.last_night or "never"),
        str(status.nights_scored),
        status.gap_text(),
        failed,
        status.last_gate,
    )


def pool_commands(served) -> list[str]:
    """The ``airflow pools set`` lines that give every dataset its two pools."""
    import shlex

    from nightjar.core.vocabulary import dataset_pool, loop_guard_pool

    lines = []
    for name, config in sorted(served.configs.items()):
        for pool, slots, what in (
            (dataset_pool(name), config.airflow.pool_slots, "every task of its DAGs"),
            (loop_guard_pool(name), 1, "its monitoring runs decide in turn"),
        ):
            description = shlex.quote(f"Nightjar dataset {name}: {what}")
            lines.append(f"airflow pools set {pool} {slots} {description}")
    return lines


@click.command("datasets")
@click.option("--json", "as_json", is_flag=True, help="Print the statuses as JSON.")
@click.option(
    "--pools",
    is_flag=True,
    help="Print the `airflow pools set` commands that give each dataset its pools, and "
    "stop (for a deployment's init: `nightjar datasets --pools | sh`).",
)
def datasets(as_json: bool, pools: bool) -> None:
    """List each dataset (NIGHTJAR_DATASETS_DIR) with its champion, last scored night,
    gaps, failed scoring runs, last gate and retrain decision; then each config that does
    not load, with why (exit 1). Failed runs come from the Airflow this home serves ("?"
    when it is not up).
    """
    import json

    from nightjar.core.datasets import load_datasets, settings_for
    from nightjar.embedded.supervisor import EmbeddedStack
    from nightjar.monitoring.dataset_status import dataset_status

    settings = cli_settings()
    served = load_datasets(settings, functions=not pools)
    if pools:
        for line in pool_commands(served):
            click.echo(line)
        return
    failed = _failed_runs(settings, sorted(served.configs))
    with EmbeddedStack(settings):  # lakeFS: the stand-in, started only if it is not up
        statuses = [
            dataset_status(
                settings_for(settings, config),
                config,
                None if failed is None else failed.get(name, {}),
            )
            for name, config in sorted(served.configs.items())
        ]
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(s) for s in statuses], indent=2, default=str))
    else:
        rows = [COLUMNS, *(_row(s) for s in statuses)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
        for row in rows:
            click.echo(
                "  ".join(
                    cell.ljust(width) for cell, width in zip(row, widths, strict=True)
                ).rstrip()
            )
        for status in statuses:
            problems = "; ".join(status.problems)
            click.echo(f"{status.dataset}: {status.drift}" + (f" ({problems})" if problems else ""))
    for path, error in sorted(served.errors.items()):
        reason = " ".join(line.strip(" -") for line in error.splitlines()[1:]) or error
        click.echo(f"{path}: does not load: {reason}", err=True)
    if served.errors:
        raise SystemExit(1)
