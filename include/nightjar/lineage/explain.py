"""One scored row, followed back through every record that produced it.

A score is stamped with its model version, the MLflow run, the lakeFS commit, the
feature spec and the DAG run. This module follows each stamp to the record it names:
the model version and its alias history in the registry, the gate decision in the
approval log, the training run and the commit it trained on in MLflow, the feature
values in the features table, and the raw objects at the input commit in lakeFS. It
reads only; ``nightjar explain`` prints the result, ``--json`` gives it to tools, and the
Nightjar page's lineage view renders the same object.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field

import pandas as pd

from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.errors import NightjarError
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import (
    DECISION,
    FEATURE_SPEC,
    LAKEFS_COMMIT,
    SCORE_DATE,
    TAG_GATE,
    TAG_MODEL_SHA256,
    dag_id,
)
from nightjar.evaluation.gate import APPROVAL_LOG
from nightjar.features.definitions import FEATURE_DATE
from nightjar.io import delta_tables, raw_tables, snapshots, tracking
from nightjar.io.lakefs_client import make_client
from nightjar.io.lineage import short_commit
from nightjar.promotion import registry


class ExplainError(NightjarError):
    """The row asked about cannot be found, so there is nothing to explain."""


@dataclass(frozen=True)
class ScoreLink:
    """The row itself: what was decided, against which threshold, when, in which table."""

    entity: str
    score_date: str
    probability: float
    decision: bool
    threshold: float
    scored_at: str
    table: str
    table_version: int | None


@dataclass(frozen=True)
class ModelLink:
    """The model version that scored the row and how it came to be serving then."""

    name: str
    version: str
    run_id: str
    alias_used: str
    aliases_at_scoring: list[str]
    alias_moves: list[dict]
    gate: dict | None
    approval: dict | None
    model_sha256: str


@dataclass(frozen=True)
class TrainingLink:
    """The MLflow run that trained the version, and the snapshot it learned from."""

    run_id: str
    lakefs_repository: str
    lakefs_commit: str
    time_range: str
    as_of: str
    training_key: str
    code_commit: str
    seed: str


@dataclass(frozen=True)
class FeatureLink:
    """The feature values the model saw, from the features partition the scores read."""

    feature_spec: str
    values: dict[str, object]
    table: str
    same_commit_as_score: bool


@dataclass(frozen=True)
class InputLink:
    """The lakeFS commit the run read and the raw objects of the score date at it."""

    lakefs_repository: str
    lakefs_commit: str
    commit_message: str
    committed_at: str
    objects: dict[str, list[str]]
    history_objects: int


@dataclass(frozen=True)
class Explanation:
    """The full chain for one scored row."""

    score: ScoreLink
    model: ModelLink
    training: TrainingLink
    features: FeatureLink | None
    inputs: InputLink
    dag_run: dict[str, str]
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """JSON-ready form (``nightjar explain --json``)."""
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, default=str)


def explain(
    settings: Settings,
    config: DatasetConfig,
    entity: str,
    day: dt.date,
    *,
    table: str = "",
    registry_view: registry.ModelView | None = None,
) -> Explanation:
    """The chain behind ``entity``'s score on ``day`` in the scores table (or ``table``).
    ``registry_view``: the registry's view of the model, when the caller read it already."""
    table = table or config.table_name("scores")
    row = _scored_row(settings, config, table, entity, day)
    notes: list[str] = []
    scored_at = pd.Timestamp(row["scored_at"])
    version, run = tracking.registered_version(
        settings, row["model_name"], str(row["model_version"])
    )
    tags, params = run.data.tags, run.data.params
    threshold = float(params.get("threshold", config.model.threshold))
    if bool(row[DECISION]) != (float(row["probability"]) >= threshold):
        notes.append(
            f"the decision does not follow from the training run's threshold {threshold}: "
            f"the dataset config's threshold was {config.model.threshold} when it was scored?"
        )
    score = ScoreLink(
        entity=entity,
        score_date=str(day),
        probability=float(row["probability"]),
        decision=bool(row[DECISION]),
        threshold=threshold,
        scored_at=scored_at.isoformat(),
        table=settings.table_uri(table),
        table_version=_version_that_wrote(settings.table_uri(table), day, row),
    )
    # read once: three questions ask it
    moves = (
        registry_view.moves
        if registry_view is not None and registry_view.name == version.name
        else registry.history(settings, version.name)
    )
    model = ModelLink(
        name=version.name,
        version=str(version.version),
        run_id=version.run_id,
        alias_used=str(row.get("model_alias") or ""),
        aliases_at_scoring=_aliases_at(moves, str(version.version), scored_at),
        alias_moves=_moves_of(moves, str(version.version)),
        gate=_gate_for(settings, version.run_id, tags.get(TAG_GATE)),
        approval=_approval_of(moves, str(version.version), scored_at),
        model_sha256=tags.get(TAG_MODEL_SHA256, ""),
    )
    training = TrainingLink(
        run_id=version.run_id,
        lakefs_repository=tags.get("nightjar.lakefs_repository", ""),
        lakefs_commit=tags.get("nightjar.lakefs_commit", ""),
        time_range=params.get("time_range", ""),
        as_of=params.get("as_of", ""),
        training_key=tags.get("nightjar.training_key", ""),
        code_commit=tags.get("nightjar.git_commit", ""),
        seed=tags.get("nightjar.seed", ""),
    )
    if tags.get("nightjar.feature_spec") not in (None, row[FEATURE_SPEC]):
        notes.append(
            f"the row's feature spec {row[FEATURE_SPEC][:12]} differs from the one the model "
            f"was trained with ({tags['nightjar.feature_spec'][:12]})"
        )
    features = _features_of(settings, config, entity, day, row)
    if features is None:
        notes.append(f"no row for {entity} in the features partition of {day}")
    elif not features.same_commit_as_score:
        notes.append(
            "the features partition has been recomputed from another commit since this row "
            "was scored: its values are not the ones the model saw"
        )
    try:
        inputs = _inputs_of(settings, config, str(row[LAKEFS_COMMIT]), day)
    except Exception as exc:  # lakeFS down or the commit gone: the rest of the chain stands
        notes.append(f"lakeFS could not be read for the input commit: {exc}")
        inputs = InputLink(settings.lakefs_repository, str(row[LAKEFS_COMMIT]), "", "", {}, 0)
    return Explanation(
        score=score,
        model=model,
        training=training,
        features=features,
        inputs=inputs,
        dag_run={
            "dag_id": dag_id("score", config.name),
            "dag_run_id": str(row["dag_run_id"]),
            "logical_date": str(row.get("logical_date") or ""),
        },
        notes=notes,
    )


def _version_that_wrote(uri: str, day: dt.date, row: dict) -> int | None:
    """The scores table version whose commit wrote the row's partition: the newest commit
    replacing that date, if its DAG run is the row's (one run may score several dates)."""
    commit = delta_tables.partition_commits(uri, SCORE_DATE, day, day).get(day)
    if commit is None or commit.get("nightjar.dag_run_id") != row["dag_run_id"]:
        return None
    return int(commit["version"])


def _scored_row(
    settings: Settings, config: DatasetConfig, table: str, entity: str, day: dt.date
) -> dict:
    scores = delta_tables.read(
        settings.table_uri(table),
        filters=[(SCORE_DATE, "=", day), (config.entity_key, "=", entity)],
    )
    if scores is None:
        raise ExplainError(f"no scores table {table!r} yet: nothing has been scored")
    if scores.num_rows == 0:
        raise ExplainError(f"{config.entity_key} {entity!r} was not scored on {day} ({table})")
    return scores.to_pylist()[0]


def _moves_of(moves: pd.DataFrame, version: str) -> list[dict]:
    """Every alias move to or from ``version``, oldest first, of the model's ``moves``."""
    mine = moves[(moves["to_version"] == version) | (moves["from_version"] == version)]
    return [_move(row) for row in mine.to_dict("records")]


def _move(row: dict) -> dict:
    return {
        "alias": row["alias"],
        "from_version": row["from_version"] or None,
        "to_version": row["to_version"] or None,
        "actor": row["actor"],
        "reason": row["reason"],
        "recorded_at": pd.Timestamp(row["recorded_at"]).isoformat(),
        "dag_run_id": row["dag_run_id"],
    }


def _aliases_at(moves: pd.DataFrame, version: str, when: pd.Timestamp) -> list[str]:
    """The aliases ``version`` held at ``when``: each alias's last move before then. A
    promotion takes the challenger alias off the version it makes champion."""
    moves = moves[moves["recorded_at"] <= when]
    last = moves.groupby("alias").tail(1).set_index("alias")
    held = {alias for alias, move in last.iterrows() if move["to_version"] == version}
    if {registry.CHAMPION, registry.CHALLENGER} <= held:
        made = last.loc[registry.CHAMPION, "recorded_at"]
        if last.loc[registry.CHALLENGER, "recorded_at"] <= made:
            held.discard(registry.CHALLENGER)
    return sorted(held)


def _approval_of(moves: pd.DataFrame, version: str, when: pd.Timestamp) -> dict | None:
    """The move that made ``version`` champion, last before ``when``: who, why, when."""
    made = moves[
        (moves["alias"] == registry.CHAMPION)
        & (moves["to_version"] == version)
        & (moves["recorded_at"] <= when)
    ]
    return _move(made.iloc[-1].to_dict()) if not made.empty else None


def _gate_for(settings: Settings, run_id: str, tagged: str | None) -> dict | None:
    """The newest gate decision recorded for the training run, with its failed checks."""
    log = delta_tables.read(
        settings.table_uri(APPROVAL_LOG), filters=[("mlflow_run_id", "=", run_id)]
    )
    if log is None or log.num_rows == 0:
        return {"decision": tagged, "recorded_at": None} if tagged else None
    newest = max(log.to_pylist(), key=lambda r: r["recorded_at"])
    checks = json.loads(newest["checks"])
    return {
        "decision": newest["decision"],
        "recorded_at": pd.Timestamp(newest["recorded_at"]).isoformat(),
        "champion_version": newest["champion_version"] or None,
        "checks": {c["name"]: c["passed"] for c in checks},
        "dag_run_id": newest["dag_run_id"],
    }


def _features_of(
    settings: Settings, config: DatasetConfig, entity: str, day: dt.date, row: dict
) -> FeatureLink | None:
    table = config.table_name("features")
    found = delta_tables.read(
        settings.table_uri(table),
        filters=[(FEATURE_DATE, "=", day), (config.entity_key, "=", entity)],
        columns=[LAKEFS_COMMIT, FEATURE_SPEC, *config.feature_names],
    )
    if found is None or found.num_rows == 0:
        return None
    values = found.to_pylist()[0]
    return FeatureLink(
        feature_spec=values.pop(FEATURE_SPEC),
        values={name: values[name] for name in config.feature_names},
        table=settings.table_uri(table),
        same_commit_as_score=values.pop(LAKEFS_COMMIT) == row[LAKEFS_COMMIT],
    )


def _inputs_of(settings: Settings, config: DatasetConfig, commit_id: str, day: dt.date):
    """The input commit, the score date's raw objects per source, and how many objects of
    the features' history window were read with them."""
    client = make_client(settings)
    repository = settings.lakefs_repository
    commit = snapshots.commit_details(client, repository, commit_id)
    window_start = day - dt.timedelta(days=config.history_days)
    objects: dict[str, list[str]] = {}
    history = 0
    for name, source in config.sources.items():
        if name == config.label.source:
            continue
        partitions = raw_tables.list_partitions(client, repository, commit_id, source.path)
        objects[name] = sorted(partitions.get(day, []))
        history += sum(len(p) for d, p in partitions.items() if window_start <= d < day)
    return InputLink(
        lakefs_repository=repository,
        lakefs_commit=commit["id"],
        commit_message=commit["message"],
        committed_at=commit["created_at"],
        objects=objects,
        history_objects=history,
    )


def render_text(explanation: Explanation) -> str:
    """The chain as the CLI prints it: one block per link, most specific first."""
    s, m, t, f, i = (
        explanation.score,
        explanation.model,
        explanation.training,
        explanation.features,
        explanation.inputs,
    )
    lines = [
        f"{s.entity} on {s.score_date}: probability {s.probability:.4f} -> "
        f"{'POSITIVE' if s.decision else 'negative'} (threshold {s.threshold})",
        f"  scored at {s.scored_at} into {s.table} (Delta version {s.table_version})",
        "",
        f"model     {m.name} v{m.version} (served as @{m.alias_used or '?'}; "
        f"aliases then: {', '.join(m.aliases_at_scoring) or 'none'})",
        f"  model file sha256 {m.model_sha256[:16]}",
    ]
    if m.approval:
        a = m.approval
        lines.append(
            f"  made champion {a['recorded_at'][:19]} by {a['actor']}: {a['reason']} "
            f"(from v{a['from_version'] or '-'})"
        )
    if m.gate:
        failed = [name for name, ok in (m.gate.get("checks") or {}).items() if not ok]
        lines.append(
            f"  gate {m.gate['decision']}"
            + (f" at {m.gate['recorded_at'][:19]}" if m.gate.get("recorded_at") else "")
            + (f"; failed: {', '.join(failed)}" if failed else "")
        )
    for move in m.alias_moves:
        lines.append(
            f"  {move['recorded_at'][:19]}  @{move['alias']}: v{move['from_version'] or '-'} "
            f"-> v{move['to_version'] or '-'}  ({move['actor']}: {move['reason']})"
        )
    lines += [
        "",
        f"training  MLflow run {t.run_id}",
        f"  lakeFS {t.lakefs_repository}@{t.lakefs_commit[:12]}, dates {t.time_range}, "
        f"as of {t.as_of}, seed {t.seed}",
        f"  code {short_commit(t.code_commit)}, training features {t.training_key}",
        "",
    ]
    if f is not None:
        lines.append(f"features  spec {f.feature_spec[:12]} from {f.table}")
        lines += [f"  {name} = {value}" for name, value in f.values.items()]
    else:
        lines.append("features  not found in the features partition")
    lines += [
        "",
        f"inputs    lakeFS {i.lakefs_repository}@{i.lakefs_commit[:12]} "
        f"({i.committed_at[:19]}: {i.commit_message})",
    ]
    for source, paths in i.objects.items():
        lines += [f"  {source}: {path}" for path in paths] or [f"  {source}: no object that day"]
    lines.append(f"  + {i.history_objects} objects of the earlier days the windows read")
    d = explanation.dag_run
    lines += ["", f"DAG run   {d['dag_id']} / {d['dag_run_id']} (logical date {d['logical_date']})"]
    if explanation.notes:
        lines += ["", *(f"note: {note}" for note in explanation.notes)]
    return "\n".join(lines)
