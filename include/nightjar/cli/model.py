"""ML engineers' commands: the registry (history, promote, rollback, compare), the
features and the gate policy."""

from __future__ import annotations

import os

import click

from nightjar.cli.settings import cli_dataset, cli_settings
from nightjar.core.vocabulary import TAG_GATE


@click.group()
def model() -> None:
    """Registry: alias history, rollback and manual promotion."""


def _dataset_config():
    return cli_dataset()[1]


def _model_name(name: str | None) -> str:
    return name or _dataset_config().model.name


@model.command("history")
@click.option("--name", help="Registered model (default: the dataset config's model).")
def model_history(name: str | None) -> None:
    """Every alias move: when, from which version to which, by whom and why; then each
    version's compiled forest: whether it passed its check, or why the Booster scores it."""
    from nightjar.promotion.compilation import compiled_verdicts
    from nightjar.promotion.registry import history

    settings, model_name = cli_settings(), _model_name(name)
    frame = history(settings, model_name)
    click.echo(frame.to_string(index=False) if len(frame) else "no alias moves recorded yet")
    verdicts = compiled_verdicts(settings, model_name)
    if verdicts:
        click.echo("\ncompiled forests (what scores each version):")
        for version, verdict in verdicts.items():
            summary = verdict.summary() if verdict else "none recorded: the Booster scores"
            click.echo(f"  v{version}: {summary}")


@model.command("reproduce")
@click.argument("version")
@click.option("--name", help="Registered model (default: the dataset config's model).")
@click.option(
    "--force", is_flag=True, help="Replay even if this checkout is not the recorded code commit."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def model_reproduce(version: str, name: str | None, force: bool, as_json: bool) -> None:
    """Retrain VERSION from its recorded lineage and compare it with the registered model.

    Replays the training run's record: its lakeFS commit, its dataset config (so its
    feature spec), its parameters, seed and as-of date. The training features are
    recomputed in a scratch folder; no table is written. Exits 1 unless the model file is
    byte-identical and the holdout metrics are equal.

    \b
    Refuses when this checkout is not the code commit that trained VERSION (or that commit
    had uncommitted changes), unless --force.
    """
    import json

    from nightjar.embedded.supervisor import EmbeddedStack
    from nightjar.lineage.reproduce import reproduce

    if not version.isdigit():
        raise click.BadParameter(f"{version!r}: expected a version number", param_hint="VERSION")
    settings = cli_settings()
    with EmbeddedStack(settings):  # lakeFS: the stand-in, started only if it is not up
        result = reproduce(settings, _model_name(name), version, force=force)
    click.echo(json.dumps(result.as_dict(), indent=2) if as_json else result.summary())
    if not (result.byte_identical and result.metrics_equal):
        raise SystemExit(1)


@model.command("rollback")
@click.option("--name", help="Registered model (default: the dataset config's model).")
@click.option("--to", "to_version", help="Version to restore (default: the previous champion).")
@click.option("--reason", default="manual rollback", show_default=True)
def model_rollback(name: str | None, to_version: str | None, reason: str) -> None:
    """Make a previous version the champion again, recorded in the alias history."""
    from nightjar.promotion.registry import rollback

    move = rollback(
        cli_settings(),
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

    settings = cli_settings()
    config = _dataset_config()
    name = name or config.model.name
    _, run = tracking.registered_version(settings, name, version)  # one line if absent
    gate_passed = run.data.tags.get(TAG_GATE) == "passed"
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

    settings = cli_settings()
    config = _dataset_config()
    version = version or registry.version_for_alias(settings, config.model.name, "challenger")
    if version is None:
        raise click.ClickException(f"{config.model.name} has no challenger; pass --version")
    _echo_comparison(shadow.history(settings, config, version), version)


# --- features -----------------------------------------------------------------------------


@click.group()
def features() -> None:
    """The dataset's features and their lineage."""


@features.command("describe")
def features_describe() -> None:
    """Each feature: definition, sources, owner, checks; and the feature-spec version."""
    from nightjar.features.catalog import describe

    click.echo(describe(_dataset_config()))


# --- gate ---------------------------------------------------------------------------------


@click.group()
def gate() -> None:
    """The evaluation gate a challenger must pass to be promoted."""


@gate.command("explain")
def gate_explain() -> None:
    """Print the dataset's gate policy: each setting, its value, and whether the policy
    file set it or Nightjar's default applies. The example policy's thresholds are tuned
    to the demo data: set your own for your model."""
    from nightjar.core.gate_policy import explain_policy

    click.echo(explain_policy(_dataset_config().gate_policy))
