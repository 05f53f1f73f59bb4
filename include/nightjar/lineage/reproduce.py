"""Retrain a registered version from its recorded lineage and check the result is the same.

Training is deterministic by construction (fixed seed, ``deterministic`` LightGBM, two
threads, rows sorted, reads pinned to a lakeFS commit), and the training run records
everything that determines the model: the code commit, the lakeFS commit, the dataset
config (so the feature spec), the parameters, the seed and the ``as_of`` date. This module
replays that record. It recomputes the training features into a scratch warehouse (the
real tables are not touched), trains, and compares the model file byte for byte and the
holdout metrics with the recorded ones.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.errors import NightjarError
from nightjar.core.metrics import binary_metrics
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import MODEL_DIR, TAG_MODEL_SHA256, TRAINING_RUN
from nightjar.features.definitions import spec_hash
from nightjar.features.job import run_feature_job
from nightjar.io import tracking
from nightjar.io.lineage import code_version, short_commit
from nightjar.io.snapshots import Snapshot
from nightjar.training.trainer import (
    fit,
    load_training_set,
    model_sha256,
    predict,
    split_by_time,
    training_window,
)

log = logging.getLogger(__name__)
SCRATCH_KEY = "reproduce"
RECORDED_TAGS = ("nightjar.git_commit", "nightjar.lakefs_repository", "nightjar.lakefs_commit")
RECORDED_PARAMS = ("as_of",)


class ReproduceRefused(NightjarError):
    """The recorded lineage cannot be replayed as it is (another code commit, a changed
    feature spec) and the caller did not force it."""


@dataclass(frozen=True)
class Reproduction:
    """What replaying a version's lineage gave, next to what was recorded."""

    model_name: str
    version: str
    run_id: str
    lakefs_repository: str
    lakefs_commit: str
    as_of: str
    code_commit_recorded: str
    code_commit_now: str
    recorded_sha256: str
    reproduced_sha256: str
    byte_identical: bool
    metrics: dict[str, dict[str, float]]
    metrics_equal: bool

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        verdict = "byte-identical" if self.byte_identical else "DIFFERENT"
        lines = [
            f"{self.model_name} v{self.version}: model file {verdict} "
            f"(recorded sha256 {self.recorded_sha256[:16]}, "
            f"reproduced {self.reproduced_sha256[:16]})",
            f"  from lakeFS {self.lakefs_repository}@{self.lakefs_commit[:12]}, as of "
            f"{self.as_of}; code recorded {short_commit(self.code_commit_recorded)}, "
            f"now {short_commit(self.code_commit_now)}",
            f"  holdout metrics {'equal' if self.metrics_equal else 'DIFFER'}:",
        ]
        for name, pair in self.metrics.items():
            mark = "==" if pair["recorded"] == pair["reproduced"] else "!="
            lines.append(f"    {name}: {pair['recorded']!r} {mark} {pair['reproduced']!r}")
        return "\n".join(lines)


def reproduce(
    settings: Settings, model_name: str, version: str, *, force: bool = False
) -> Reproduction:
    """Retrain ``model_name`` v``version`` from its training run's record and compare.

    Refuses (``ReproduceRefused``) when the running code's commit differs from the
    recorded one, or the recorded config's feature spec from the recorded spec, unless
    ``force``: a different model would then say nothing about the record.
    """
    _, run = tracking.registered_version(settings, model_name, str(version))
    tags, params = run.data.tags, run.data.params
    missing = [key for key in RECORDED_TAGS if key not in tags]
    missing += [key for key in RECORDED_PARAMS if key not in params]
    if missing:
        raise ReproduceRefused(
            f"v{version}'s training run {run.info.run_id} did not record {', '.join(missing)}: "
            "it predates this lineage, and cannot be replayed"
        )
    recorded_code, current_code = tags["nightjar.git_commit"], code_version()
    problems = []
    if recorded_code != current_code:
        problems.append(
            f"v{version} was trained by code commit {recorded_code}, this checkout is "
            f"{current_code}: check out {recorded_code.removesuffix('-dirty')} to reproduce it"
        )
    if recorded_code.endswith("-dirty"):
        problems.append(f"v{version} was trained from uncommitted changes ({recorded_code})")
    try:
        config = DatasetConfig.model_validate(
            json.loads(tracking.read_text(settings, run.info.run_id, "lineage/dataset_config.json"))
        )
    except Exception as exc:  # a config schema that has changed since, or no artifact
        problems.append(f"the recorded dataset config does not load here ({exc})")
        raise ReproduceRefused("; ".join(problems)) from None
    if spec_hash(config) != tags.get("nightjar.feature_spec"):
        problems.append(
            f"the recorded dataset config's feature spec {spec_hash(config)[:12]} is not the "
            f"recorded spec {tags.get('nightjar.feature_spec', '?')[:12]}"
        )
    if problems and not force:
        raise ReproduceRefused("; ".join(problems) + " (--force replays it anyway)")
    for problem in problems:
        log.warning("replaying anyway: %s", problem)

    snapshot = Snapshot(tags["nightjar.lakefs_repository"], "", tags["nightjar.lakefs_commit"])
    as_of = dt.date.fromisoformat(params["as_of"])
    with tempfile.TemporaryDirectory(prefix="nightjar-reproduce-") as scratch_dir:
        scratch = settings.model_copy(update={"warehouse_uri": str(Path(scratch_dir) / "wh")})
        start, end = training_window(config, as_of)
        log.info("recomputing the training features %s..%s at %s", start, end, snapshot.commit_id)
        run_feature_job(
            scratch,
            config,
            snapshot,
            start=start,
            end=end,
            table=config.table_name("training_features"),
            partition_column=TRAINING_RUN,
            partition_value=SCRATCH_KEY,
        )
        frame = load_training_set(scratch, config, snapshot, SCRATCH_KEY, as_of)
        train, valid, holdout = split_by_time(config, frame)
        booster, categories = fit(config, train, valid)
        recorded_file = tracking.download(
            settings, run.info.run_id, f"{MODEL_DIR}/model.txt", Path(scratch_dir) / "recorded"
        )
        reproduced_file = Path(scratch_dir) / "model.txt"
        booster.save_model(str(reproduced_file))
        identical = recorded_file.read_bytes() == reproduced_file.read_bytes()
    reproduced = binary_metrics(
        holdout[config.label.column], predict(config, booster, categories, holdout)
    )
    metrics = {
        name: {"recorded": run.data.metrics[f"holdout_{name}"], "reproduced": float(value)}
        for name, value in reproduced.items()
        if f"holdout_{name}" in run.data.metrics
    }
    return Reproduction(
        model_name=model_name,
        version=str(version),
        run_id=run.info.run_id,
        lakefs_repository=snapshot.repository,
        lakefs_commit=snapshot.commit_id,
        as_of=as_of.isoformat(),
        code_commit_recorded=recorded_code,
        code_commit_now=current_code,
        recorded_sha256=tags.get(TAG_MODEL_SHA256, ""),
        reproduced_sha256=model_sha256(booster),
        byte_identical=identical,
        metrics=metrics,
        metrics_equal=bool(metrics)
        and all(p["recorded"] == p["reproduced"] for p in metrics.values()),
    )
