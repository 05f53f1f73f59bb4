"""Reproducible training, promotion and rollback with an audit trail, and the model card."""

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from nightjar.io import tracking
from nightjar.io.snapshots import Snapshot
from nightjar.promotion import registry
from nightjar.promotion.model_card import render_model_card
from nightjar.training.trainer import train_and_log

pytestmark = pytest.mark.e2e


def _champion_run(settings, config):
    version = registry.version_for_alias(settings, config.model.name, registry.CHAMPION)
    client = tracking.client(settings)
    run_id = client.get_model_version(config.model.name, version).run_id
    return version, client.get_run(run_id)


def test_retraining_from_the_same_lineage_is_byte_identical(demo_world, config):
    _, run = _champion_run(demo_world, config)
    tags, params = run.data.tags, run.data.params
    snapshot = Snapshot(
        tags["nightjar.lakefs_repository"],
        tags["nightjar.lakefs_branch"],
        tags["nightjar.lakefs_commit"],
    )
    again = train_and_log(
        demo_world,
        config,
        snapshot,
        training_key=tags["nightjar.training_key"],
        as_of=dt.date.fromisoformat(params["as_of"]),
        intent="test: reproduce",
        airflow_run={},
    )
    assert again.model_sha256 == tags["nightjar.model_sha256"]
    original = run.data.metrics
    for name, value in again.holdout_metrics.items():
        if f"holdout_{name}" in original:
            assert value == pytest.approx(original[f"holdout_{name}"], abs=0, rel=0)
    first = tracking.read_text(demo_world, run.info.run_id, "model_file/model.txt")
    second = tracking.read_text(demo_world, again.run_id, "model_file/model.txt")
    assert first == second


def test_every_run_records_the_full_lineage_set(demo_world, config):
    _, run = _champion_run(demo_world, config)
    for tag in (
        "nightjar.intent",
        "nightjar.git_commit",
        "nightjar.lakefs_repository",
        "nightjar.lakefs_commit",
        "nightjar.feature_spec",
        "nightjar.seed",
        "nightjar.runtime_image",
        "nightjar.model_sha256",
    ):
        assert run.data.tags.get(tag), tag
    for param in ("rows_train", "rows_holdout", "time_range", "learning_rate", "seed"):
        assert param in run.data.params, param
    assert any(k.startswith("slice.region.") for k in run.data.metrics)
    runtime = json.loads(tracking.read_text(demo_world, run.info.run_id, "lineage/runtime.json"))
    assert {"python", "lightgbm", "mlflow", "image"} <= set(runtime)


def test_promotion_and_rollback_are_recorded(demo_world, config):
    name = config.model.name
    champion, run = _champion_run(demo_world, config)
    candidate = registry.register(
        demo_world, f"runs:/{run.info.run_id}/model", name, tags={"purpose": "test"}
    )
    registry.promote(demo_world, name, candidate, actor="test", reason="manual check")
    assert registry.version_for_alias(demo_world, name, registry.CHAMPION) == candidate
    move = registry.rollback(demo_world, name, to_version=None, actor="test", reason="oops")
    assert (move.from_version, move.to_version) == (candidate, champion)
    history = registry.history(demo_world, name)
    last_two = history.tail(2)[["from_version", "to_version", "actor", "reason"]].values.tolist()
    assert last_two == [
        [champion, candidate, "test", "manual check"],
        [candidate, champion, "test", "rollback: oops"],
    ]
    assert registry.promote(demo_world, name, champion, actor="test", reason="again") is None


def test_two_promotions_at_once_leave_one_champion_and_both_in_history(demo_world, config):
    name = config.model.name
    champion, run = _champion_run(demo_world, config)
    a, b = (
        registry.register(demo_world, f"runs:/{run.info.run_id}/model", name, tags={})
        for _ in range(2)
    )
    before = len(registry.history(demo_world, name))
    with ThreadPoolExecutor(2) as pool:
        list(
            pool.map(
                lambda v: registry.promote(demo_world, name, v, actor="race", reason=f"race {v}"),
                [a, b],
            )
        )
    final = registry.version_for_alias(demo_world, name, registry.CHAMPION)
    history = registry.history(demo_world, name).iloc[before:]
    assert final in (a, b) and len(history) == 2
    assert history.iloc[-1]["to_version"] == final
    assert history.iloc[1]["from_version"] == history.iloc[0]["to_version"]
    registry.rollback(demo_world, name, to_version=champion, actor="test", reason="restore")


def test_the_model_card_holds_use_lineage_metrics_gate_and_approvals(demo_world, config):
    version, run = _champion_run(demo_world, config)
    card = render_model_card(demo_world, config, config.model.name, version)
    assert f"# Model card: {config.model.name} v{version}" in card
    for expected in (
        "## Intended use",
        config.description,
        run.data.tags["nightjar.lakefs_commit"],
        run.data.tags["nightjar.feature_spec"],
        "| roc_auc |",
        "region.west",
        "`min_roc_auc`",
        "## Caveats",
        "## Approval record",
        "champion",
    ):
        assert expected in card, expected
    assert tracking.read_text(demo_world, run.info.run_id, "model_card/v1.md")


def test_manual_promotion_waits_for_the_policys_shadow_nights(
    demo_world, config, tmp_path, monkeypatch
):
    from click.testing import CliRunner

    from nightjar.cli.main import main
    from nightjar.core.settings import PACKAGED_CONFIGS

    configs = PACKAGED_CONFIGS
    policy = (configs / "policies" / "default.yaml").read_text()
    (tmp_path / "policy.yaml").write_text(
        policy.replace("min_shadow_nights: 0", "min_shadow_nights: 2")
    )
    dataset = (configs / "datasets" / "credit_default.yaml").read_text()
    (tmp_path / "credit_default.yaml").write_text(
        dataset.replace("gate_policy: ../policies/default.yaml", "gate_policy: policy.yaml")
    )
    monkeypatch.setenv("NIGHTJAR_DATASET_CONFIG", str(tmp_path / "credit_default.yaml"))
    name = config.model.name
    champion, run = _champion_run(demo_world, config)
    candidate = registry.register(demo_world, f"runs:/{run.info.run_id}/model", name, tags={})

    refused = CliRunner().invoke(main, ["model", "promote", "--version", candidate])
    assert refused.exit_code != 0
    assert "0 shadow night(s)" in refused.output and "min_shadow_nights" in refused.output
    assert registry.version_for_alias(demo_world, name, registry.CHAMPION) == champion

    forced = CliRunner().invoke(main, ["model", "promote", "--version", candidate, "--force"])
    assert forced.exit_code == 0, forced.output
    assert registry.version_for_alias(demo_world, name, registry.CHAMPION) == candidate
    registry.rollback(demo_world, name, to_version=champion, actor="test", reason="restore")
