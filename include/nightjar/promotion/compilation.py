"""Compile a registered version's forest once, check it on the version's holdout, and record
the verdict on the version, so the nightly runs only ever load a checked artifact.

Registration is where this belongs: it runs once per version, off the nightly path, and
the holdout it checks against is the version's own. A compile that fails or overruns
``NIGHTJAR_COMPILE_BUDGET_SECONDS``, or an artifact that disagrees with the Booster, is
logged with its reason and leaves the version scoring with the Booster: compilation can
make scoring faster, never make a night fail.

The artifact is logged to the version's MLflow run under
``compiled/<model sha256>/<machine target>/<compiler version>/forest.o``; the verdict is
one JSON tag on the model version (``nightjar.compiled_forest``), which scoring reads, and
``nightjar model history`` and the model card show.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import lightgbm as lgb
import pandas as pd

from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.errors import InvalidNameError
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import HOLDOUT, MODEL_TEXT, TAG_COMPILED_FOREST
from nightjar.io import tracking
from nightjar.training import compiled_forest
from nightjar.training.model_inputs import encode
from nightjar.training.trainer import load_categories

log = logging.getLogger(__name__)
PASSED = "passed"


@dataclass(frozen=True)
class CompiledVerdict:
    """What compiling one version gave: ``status`` is ``passed`` (scoring may load the
    artifact on a machine of the same ``target``), ``refused`` (it disagreed with the
    Booster), ``failed`` (no artifact: error or budget) or ``off`` (compilation disabled)."""

    status: str
    reason: str
    compiler: str = ""
    target: str = ""
    model_sha256: str = ""
    artifact_path: str = ""
    artifact_sha256: str = ""
    artifact_bytes: int = 0
    compile_seconds: float = 0.0
    rows_checked: int = 0
    max_abs_diff: float | None = None
    decisions_changed: int | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CompiledVerdict:
        recorded = json.loads(text)
        return cls(**{k: v for k, v in recorded.items() if k in cls.__dataclass_fields__})

    def summary(self) -> str:
        """One line for logs, ``nightjar model history`` and the model card."""
        if self.status == PASSED:
            return (
                f"compiled ({self.compiler}, {self.target}; {self.compile_seconds:.1f} s, "
                f"{self.artifact_bytes / 1e6:.1f} MB), agrees with the Booster on "
                f"{self.rows_checked} holdout rows (max |diff| {self.max_abs_diff:.2g})"
            )
        return f"compilation {self.status}: {self.reason}; scored with the Booster"


def artifact_path(model_sha256: str, target: str, compiler: str) -> str:
    """Where a version's run keeps its compiled forest: one per model, machine and compiler."""
    return f"compiled/{model_sha256}/{target}/{compiler}/forest.o"


def compile_and_check(
    settings: Settings,
    config: DatasetConfig,
    name: str,
    version: str,
    *,
    run_id: str,
    model_sha256: str,
) -> CompiledVerdict:
    """Compile version ``version`` of ``name``, check it on its holdout, log the artifact
    if it passed, and record the verdict on the version. Never raises for a bad compile."""
    verdict = _compile_and_check(settings, config, run_id=run_id, model_sha256=model_sha256)
    tracking.client(settings).set_model_version_tag(
        name, version, TAG_COMPILED_FOREST, verdict.to_json()
    )
    level = logging.INFO if verdict.status in (PASSED, "off") else logging.WARNING
    log.log(level, "%s v%s: %s", name, version, verdict.summary())
    return verdict


def _compile_and_check(
    settings: Settings, config: DatasetConfig, *, run_id: str, model_sha256: str
) -> CompiledVerdict:
    if settings.compile_budget_seconds <= 0:
        return CompiledVerdict("off", "NIGHTJAR_COMPILE_BUDGET_SECONDS is 0")
    compiler, target = compiled_forest.compiler_version(), compiled_forest.machine_target()
    keys = dict(compiler=compiler, target=target, model_sha256=model_sha256)
    model_text = tracking.read_text(settings, run_id, MODEL_TEXT)
    outcome = compiled_forest.compile_forest(
        model_text, budget_seconds=settings.compile_budget_seconds
    )
    if outcome.object_code is None:
        return CompiledVerdict("failed", outcome.reason, compile_seconds=outcome.seconds, **keys)
    with tempfile.TemporaryDirectory() as tmp:
        holdout = pd.read_parquet(tracking.download(settings, run_id, HOLDOUT, Path(tmp)))
    matrix = encode(config, holdout, load_categories(settings, run_id)).to_numpy()
    agreement = compiled_forest.check_agreement(
        compiled_forest.CompiledForest(model_text, outcome.object_code).predict(matrix),
        lgb.Booster(model_str=model_text).predict(matrix),
        threshold=config.model.threshold,
    )
    checked = dict(
        compile_seconds=outcome.seconds,
        artifact_bytes=len(outcome.object_code),
        rows_checked=agreement.rows,
        max_abs_diff=agreement.max_abs_diff,
        decisions_changed=agreement.decisions_changed,
        **keys,
    )
    if not agreement.passed:
        return CompiledVerdict("refused", f"disagrees with the Booster: {agreement.summary()}",
                               **checked)  # fmt: skip
    path = artifact_path(model_sha256, target, compiler)
    _log_artifact(settings, run_id, path, outcome.object_code)
    digest = hashlib.sha256(outcome.object_code).hexdigest()
    return CompiledVerdict(PASSED, agreement.summary(), artifact_path=path,
                           artifact_sha256=digest, **checked)  # fmt: skip


def _log_artifact(settings: Settings, run_id: str, path: str, content: bytes) -> None:
    folder, file_name = path.rsplit("/", 1)
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / file_name
        local.write_bytes(content)
        tracking.client(settings).log_artifact(run_id, str(local), folder)


def recorded_verdict(settings: Settings, name: str, version: str) -> CompiledVerdict | None:
    """The verdict recorded on a version (None for one registered before compilation)."""
    tags = tracking.client(settings).get_model_version(name, version).tags
    text = tags.get(TAG_COMPILED_FOREST)
    return CompiledVerdict.from_json(text) if text else None


def compiled_verdicts(settings: Settings, name: str) -> dict[str, CompiledVerdict | None]:
    """Every registered version of ``name``, oldest first, with its recorded verdict."""
    if "'" in name or "\\" in name:  # it goes into a registry search filter, quoted
        raise InvalidNameError(f"invalid model name {name!r}: no quotes or backslashes")
    versions = tracking.client(settings).search_model_versions(f"name = '{name}'")
    return {
        str(v.version): (
            CompiledVerdict.from_json(v.tags[TAG_COMPILED_FOREST])
            if TAG_COMPILED_FOREST in v.tags
            else None
        )
        for v in sorted(versions, key=lambda v: int(v.version))
    }
