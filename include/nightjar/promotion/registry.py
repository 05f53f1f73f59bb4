"""MLflow 3 registry with aliases, and the alias history MLflow does not keep.

``challenger`` marks a version that passed the gate; ``champion`` is what scoring uses.
Every alias move is appended to the ``model_alias_history`` Delta table (who or what,
when, from which version to which, and why), which is what makes rollback a one-line
command and promotions auditable. Moves are serialised by a lock and are idempotent: a
retried promotion that finds the alias already in place records nothing new.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
from filelock import FileLock

from nightjar.core import lineage_record
from nightjar.core.errors import RegistryError
from nightjar.core.settings import Settings
from nightjar.io import delta_tables
from nightjar.io.tracking import client as mlflow_client

log = logging.getLogger(__name__)
CHAMPION = "champion"
CHALLENGER = "challenger"
HISTORY_TABLE = "model_alias_history"
_HISTORY_SCHEMA = pa.schema(
    [
        ("model_name", pa.string()),
        ("alias", pa.string()),
        ("from_version", pa.string()),
        ("to_version", pa.string()),
        ("actor", pa.string()),
        ("reason", pa.string()),
        ("recorded_at", pa.timestamp("us", tz="UTC")),
        ("dag_run_id", pa.string()),
    ]
)


@dataclass(frozen=True)
class AliasMove:
    """One alias move: which version it left and reached, who moved it and why."""

    model_name: str
    alias: str
    from_version: str | None
    to_version: str | None
    actor: str
    reason: str
    dag_run_id: str = ""


def version_for_alias(settings: Settings, model_name: str, alias: str) -> str | None:
    """The version an alias points at, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return str(mlflow_client(settings).get_model_version_by_alias(model_name, alias).version)
    except MlflowException:
        return None


@dataclass(frozen=True)
class ModelView:
    """What the registry says of one model at one moment: where its aliases point, the
    training run behind each, and every alias move recorded. A page reads it once, so its
    panels cannot disagree about which version is champion."""

    name: str
    aliases: dict[str, str]  # alias -> version
    runs: dict[str, str | None]  # champion, challenger -> the run that trained its version
    moves: pd.DataFrame  # ``history`` of this model, oldest first

    def version(self, alias: str) -> str | None:
        return self.aliases.get(alias)


def model_view(settings: Settings, model_name: str) -> ModelView:
    """The registry's view of ``model_name`` in one registered-model read, a version read
    for the champion and the challenger, and one read of the alias history (a model not
    registered yet has none)."""
    from mlflow.exceptions import MlflowException

    client = mlflow_client(settings)
    try:
        held = client.get_registered_model(model_name).aliases
    except MlflowException:
        held = {}
    aliases = {alias: str(version) for alias, version in held.items()}
    runs = {
        alias: client.get_model_version(model_name, version).run_id
        for alias, version in aliases.items()
        if alias in (CHAMPION, CHALLENGER)
    }
    return ModelView(model_name, aliases, runs, history(settings, model_name))


def register(settings: Settings, model_uri: str, model_name: str, tags: dict[str, str]) -> str:
    """Register a logged model as a new version of ``model_name``; return the version."""
    import mlflow

    from nightjar.io.tracking import fluent

    with fluent(settings):
        version = mlflow.register_model(model_uri, model_name, tags=tags)
    log.info("registered %s as %s version %s", model_uri, model_name, version.version)
    lineage_record.note_output(
        lineage_record.model_dataset(settings.mlflow_uri, model_name, str(version.version))
    )
    return str(version.version)


def _lock(settings: Settings, model_name: str) -> FileLock:
    path = settings.home_dir / "locks" / f"registry-{model_name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path), timeout=120)


def _record(settings: Settings, move: AliasMove) -> None:
    row = {**move.__dict__, "recorded_at": dt.datetime.now(dt.UTC)}
    table = pa.Table.from_pylist([row], schema=_HISTORY_SCHEMA)
    delta_tables.append(settings.table_uri(HISTORY_TABLE), table)


def move_alias(
    settings: Settings,
    model_name: str,
    alias: str,
    to_version: str,
    *,
    actor: str,
    reason: str,
    dag_run_id: str = "",
) -> AliasMove | None:
    """Point ``alias`` at ``to_version`` and record the move; None if already there."""
    client = mlflow_client(settings)
    with _lock(settings, model_name):
        current = version_for_alias(settings, model_name, alias)
        if current == str(to_version):
            log.info("%s@%s is already version %s; nothing to do", model_name, alias, to_version)
            return None
        client.set_registered_model_alias(model_name, alias, str(to_version))
        move = AliasMove(model_name, alias, current, str(to_version), actor, reason, dag_run_id)
        _record(settings, move)
    log.info("%s@%s: %s -> %s (%s, by %s)", model_name, alias, current, to_version, reason, actor)
    return move


def promote(
    settings: Settings,
    model_name: str,
    version: str,
    *,
    actor: str,
    reason: str,
    dag_run_id: str = "",
) -> AliasMove | None:
    """Make ``version`` the champion; the challenger alias leaves it."""
    move = move_alias(
        settings, model_name, CHAMPION, version, actor=actor, reason=reason, dag_run_id=dag_run_id
    )
    if version_for_alias(settings, model_name, CHALLENGER) == str(version):
        mlflow_client(settings).delete_registered_model_alias(model_name, CHALLENGER)
    return move


def history(settings: Settings, model_name: str | None = None) -> pd.DataFrame:
    """Every alias move recorded, oldest first (of one model, or of all)."""
    table = delta_tables.read(settings.table_uri(HISTORY_TABLE))
    if table is None:
        return pd.DataFrame(columns=_HISTORY_SCHEMA.names)
    frame = table.to_pandas().sort_values("recorded_at", ignore_index=True)
    return frame if model_name is None else frame[frame["model_name"] == model_name]


def rollback(
    settings: Settings, model_name: str, *, to_version: str | None, actor: str, reason: str
) -> AliasMove:
    """Restore a previous champion: ``to_version``, or the one before the current one."""
    current = version_for_alias(settings, model_name, CHAMPION)
    if to_version is None:
        moves = history(settings, model_name)
        moves = moves[(moves["alias"] == CHAMPION) & (moves["to_version"] == current)]
        if moves.empty or pd.isna(moves.iloc[-1]["from_version"]):
            raise RegistryError(
                f"{model_name}: no earlier champion to roll back to (current: {current}); "
                "pass --to VERSION"
            )
        to_version = str(moves.iloc[-1]["from_version"])
    from nightjar.io.tracking import registered_version

    registered_version(settings, model_name, to_version)  # one line if it does not exist
    move = move_alias(
        settings, model_name, CHAMPION, to_version, actor=actor, reason=f"rollback: {reason}"
    )
    if move is None:
        raise RegistryError(f"{model_name}: version {to_version} is already the champion")
    return move
