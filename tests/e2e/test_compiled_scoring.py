"""Compiled scoring as the loop runs it: the demo's retrain compiled its champion's forest at
registration and checked it on the holdout, and its nightly runs scored with it. Then the
ways an artifact must be refused, each leaving the Booster to score the same rows:
a corrupted download, object code that disagrees with the model, and a compile that
overruns its budget.

Each refusal uses a version registered from the champion's run, so the champion's own
record and artifact stay as the demo left them.
"""

import dataclasses
import datetime as dt
import hashlib
import json
import tempfile
from pathlib import Path

import pytest

from nightjar.core.vocabulary import MODEL_TEXT, TAG_COMPILED_FOREST
from nightjar.embedded.demo import FIRST_NIGHT
from nightjar.io import delta_tables, tracking
from nightjar.promotion import registry
from nightjar.promotion.compilation import CompiledVerdict, compile_and_check, recorded_verdict
from nightjar.scoring.scorer import (
    PREDICTOR_KEY,
    ModelRef,
    ScoringContext,
    compiled_artifact_for,
    load_model_text,
    score_partition,
)
from nightjar.training.compiled_forest import compile_forest, compiler_version
from nightjar.training.trainer import load_categories

pytestmark = pytest.mark.e2e
COMPILED = f"compiled:{compiler_version()}"
BOOSTER_PREFIX = "booster:lightgbm-"


def _champion(settings, config) -> ModelRef:
    version = registry.version_for_alias(settings, config.model.name, registry.CHAMPION)
    run_id = tracking.client(settings).get_model_version(config.model.name, version).run_id
    return ModelRef(config.model.name, version, run_id, registry.CHAMPION)


def _new_version(settings, champion: ModelRef) -> ModelRef:
    """Another version of the champion's model, for a test to give its own record."""
    version = registry.register(
        settings, f"runs:/{champion.run_id}/model", champion.name, tags={"purpose": "test"}
    )
    return ModelRef(champion.name, version, champion.run_id, "test")


def _record(settings, model: ModelRef, verdict: CompiledVerdict) -> None:
    tracking.client(settings).set_model_version_tag(
        model.name, model.version, TAG_COMPILED_FOREST, verdict.to_json()
    )


def _log_object(settings, model: ModelRef, path: str, content: bytes) -> None:
    folder, name = path.rsplit("/", 1)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / name).write_bytes(content)
        tracking.client(settings).log_artifact(model.run_id, str(Path(tmp) / name), folder)


def _score(settings, config, model: ModelRef, table: str) -> dict:
    """Score the demo's first night with ``model`` as the pipeline does; return the commit's
    metadata and the probabilities by application."""
    day = FIRST_NIGHT
    context = ScoringContext(
        day, f"test__{table}", f"{day}T01:00:00+00:00",
        dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC),
    )  # fmt: skip
    score_partition(
        settings,
        config,
        model,
        context,
        table=table,
        categories=load_categories(settings, model.run_id),
        model_text=load_model_text(settings, model),
        compiled=compiled_artifact_for(settings, model),
        engine="arrow",
    )
    uri = settings.table_uri(table)
    (commit,) = delta_tables.open_table(uri).history(1)
    frame = delta_tables.read(uri).to_pandas().set_index("application_id")["probability"]
    return {"metadata": delta_tables.commit_metadata(commit), "probability": frame}


def test_the_champion_was_compiled_checked_and_scored_compiled(demo_world, config):
    champion = _champion(demo_world, config)
    verdict = recorded_verdict(demo_world, champion.name, champion.version)
    assert verdict is not None and verdict.status == "passed", verdict
    assert verdict.rows_checked > 0 and verdict.max_abs_diff <= 1e-12
    assert verdict.decisions_changed == 0
    scores = delta_tables.open_table(demo_world.table_uri(config.table_name("scores")))
    demo_commits = [
        delta_tables.commit_metadata(c)
        for c in scores.history()
        if "nightjar.scoring_engine" in delta_tables.commit_metadata(c)
    ]
    assert demo_commits and all(c[PREDICTOR_KEY] == COMPILED for c in demo_commits)


def test_compiled_and_booster_scores_agree_on_a_whole_night(demo_world, config):
    champion = _champion(demo_world, config)
    compiled = _score(demo_world, config, champion, "scores_test_compiled")
    assert compiled["metadata"][PREDICTOR_KEY] == COMPILED
    booster_only = _new_version(demo_world, champion)  # no record: the Booster scores
    booster = _score(demo_world, config, booster_only, "scores_test_booster")
    assert booster["metadata"][PREDICTOR_KEY].startswith(BOOSTER_PREFIX)
    difference = (compiled["probability"] - booster["probability"]).abs().max()
    assert difference <= 1e-12


def test_a_corrupted_artifact_is_refused_and_the_booster_scores(demo_world, config, caplog):
    champion = _champion(demo_world, config)
    passed = recorded_verdict(demo_world, champion.name, champion.version)
    model = _new_version(demo_world, champion)
    with tempfile.TemporaryDirectory() as tmp:
        original = tracking.download(
            demo_world, champion.run_id, passed.artifact_path, Path(tmp)
        ).read_bytes()
    corrupted = bytearray(original)
    corrupted[len(corrupted) // 2] ^= 0xFF
    path = "compiled/test-corrupted/forest.o"
    _log_object(demo_world, model, path, bytes(corrupted))
    _record(demo_world, model, dataclasses.replace(passed, artifact_path=path))

    scored = _score(demo_world, config, model, "scores_test_corrupted")
    assert scored["metadata"][PREDICTOR_KEY].startswith(BOOSTER_PREFIX)
    assert "does not match the digest recorded at registration" in caplog.text


def test_an_artifact_that_disagrees_is_refused_and_the_booster_scores(demo_world, config, caplog):
    """Object code compiled from the model with one leaf changed, recorded with its own
    digest (so only the predictions can tell): the first rows' check refuses it."""
    champion = _champion(demo_world, config)
    passed = recorded_verdict(demo_world, champion.name, champion.version)
    text = tracking.read_text(demo_world, champion.run_id, MODEL_TEXT)
    leaf = text.index("leaf_value=") + len("leaf_value=")
    value = text[leaf:].split(" ", 1)[0]
    altered = text[:leaf] + repr(float(value) + 3.0) + text[leaf + len(value) :]
    other = compile_forest(altered, budget_seconds=120).object_code
    model = _new_version(demo_world, champion)
    path = "compiled/test-mismatched/forest.o"
    _log_object(demo_world, model, path, other)
    digest = hashlib.sha256(other).hexdigest()
    _record(
        demo_world,
        model,
        dataclasses.replace(passed, artifact_path=path, artifact_sha256=digest),
    )

    scored = _score(demo_world, config, model, "scores_test_mismatched")
    assert scored["metadata"][PREDICTOR_KEY].startswith(BOOSTER_PREFIX)
    assert "the compiled forest disagrees with the Booster" in caplog.text
    booster = _score(demo_world, config, _new_version(demo_world, champion), "scores_test_b2")
    assert (scored["probability"] == booster["probability"]).all()


def test_a_compile_timeout_leaves_the_booster(demo_world, config):
    champion = _champion(demo_world, config)
    model = _new_version(demo_world, champion)
    tight = demo_world.model_copy(update={"compile_budget_seconds": 0.05})
    sha = tracking.client(demo_world).get_run(champion.run_id).data.tags["nightjar.model_sha256"]
    verdict = compile_and_check(
        tight, config, model.name, model.version, run_id=model.run_id, model_sha256=sha
    )
    assert verdict.status == "failed"
    assert "compile budget" in verdict.reason
    recorded = json.loads(
        tracking.client(demo_world)
        .get_model_version(model.name, model.version)
        .tags[TAG_COMPILED_FOREST]
    )
    assert recorded["status"] == "failed"
    scored = _score(demo_world, config, model, "scores_test_timeout")
    assert scored["metadata"][PREDICTOR_KEY].startswith(BOOSTER_PREFIX)
