"""A second, different use case runs end to end from its config file alone (with its
feature tables written by Spark executors and committed by delta-rs)."""

import datetime as dt
import logging
from pathlib import Path

import pytest
import yaml

from nightjar.core import notices
from nightjar.core.dataset_config import load_dataset_config
from nightjar.core.run_info import RunInfo
from nightjar.features.definitions import spec_hash
from nightjar.ingest.landing import Batch, ingest
from nightjar.io.analytics import run_query
from nightjar.io.lakefs_client import make_client
from nightjar.io.snapshots import ensure_repository
from nightjar.pipeline import monitor, retrain, score
from nightjar.promotion import registry
from tests.fixtures.churn import generator

pytestmark = pytest.mark.e2e
CONFIG = Path(__file__).parents[1] / "fixtures" / "churn" / "churn.yaml"
START, AS_OF, NIGHT = dt.date(2026, 1, 1), dt.date(2026, 2, 28), dt.date(2026, 3, 1)


def _run(dag_id: str, day: dt.date) -> RunInfo:
    return RunInfo(
        dag_id=dag_id,
        run_id=f"test__churn_{day}",
        logical_date=f"{day}T00:00:00",
        target_date=day,
        interval_end=dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC),
    )


def _land(settings, config, branch: str, batches: list[Batch], message: str) -> None:
    client = make_client(settings)
    ensure_repository(client, settings.lakefs_repository, "local://nightjar")
    repository = settings.lakefs_repository
    ingest(client, config, repository, branch, batches, message=message, metadata={})


def test_churn_trains_promotes_scores_and_monitors(settings, embedded_stack, monkeypatch):
    monkeypatch.setenv("NIGHTJAR_DATASET_CONFIG", str(CONFIG))
    # Small tables, but through the large-output path: Spark files + a delta-rs commit.
    monkeypatch.setenv("NIGHTJAR_SPARK_WRITE_MIN_ROWS", "1")
    config = load_dataset_config(CONFIG)
    days = [START + dt.timedelta(days=i) for i in range((NIGHT - START).days + 1)]
    batches = []
    for day in days:
        batches += [
            Batch("accounts", day, generator.accounts_for(day)),
            Batch("usage", day, generator.usage_for(day)),
        ]
        if day - dt.timedelta(days=generator.LABEL_DELAY) >= START:
            batches.append(
                Batch(
                    "churn_labels",
                    day,
                    generator.labels_for(day - dt.timedelta(days=generator.LABEL_DELAY)),
                )
            )
    _land(settings, config, "ingest-churn", batches, "churn fixture")

    train_run = _run("nightjar_retrain", AS_OF)
    snapshot = retrain.open_snapshot(train_run)
    features = retrain.build_features(train_run, snapshot)
    trained = retrain.train(train_run, snapshot, features, intent="test: second dataset")
    decision = retrain.evaluate_gate(train_run, trained, snapshot)
    promoted = retrain.register_and_promote(train_run, trained, decision)
    assert promoted.promoted
    assert registry.version_for_alias(settings, "churn", registry.CHAMPION) == promoted.version

    score_run = _run("nightjar_score", NIGHT)
    score_inputs = score.open_snapshot(score_run)
    score.build_features(score_run, score_inputs)
    scored = score.score(score_run, score_inputs)
    assert scored.rows["champion"] == generator.ACCOUNTS
    drift = monitor.measure_drift(_run("nightjar_monitor", NIGHT))
    assert Path(drift.report_html).is_file()

    scores = run_query(settings, "SELECT * FROM scores_churn")
    assert len(scores) == generator.ACCOUNTS and scores["snapshot_id"].is_unique
    assert set(scores["feature_spec"]) == {spec_hash(config)}


def test_an_optional_source_missing_a_day_gives_nulls_and_a_warning(
    settings, embedded_stack, monkeypatch, tmp_path, caplog
):
    """usage is a left-joined enrichment: declared optional, a day without its file is
    scored with null usage features and a warning in the task log, not a failed run."""
    raw = yaml.safe_load(CONFIG.read_text())
    raw["sources"]["usage"]["required"] = False
    raw["gate_policy"] = str(CONFIG.parent / raw["gate_policy"])
    optional = tmp_path / "churn.yaml"
    optional.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("NIGHTJAR_DATASET_CONFIG", str(optional))
    config = load_dataset_config(optional)
    night = NIGHT + dt.timedelta(days=10)
    before = [night - dt.timedelta(days=i) for i in (2, 1)]
    batches = [Batch("accounts", day, generator.accounts_for(day)) for day in [*before, night]]
    batches += [Batch("usage", day, generator.usage_for(day)) for day in before]
    _land(settings, config, "ingest-churn-gap", batches, "churn: no usage file for one night")

    run = _run("nightjar_score", night)
    with (
        caplog.at_level(logging.WARNING, logger="nightjar.features.job"),
        notices.collecting() as noticed,
    ):
        built = score.build_features(run, score.open_snapshot(run))

    assert built.rows == generator.ACCOUNTS
    assert f"usage: no rows for {night}..{night}" in caplog.text and "optional" in caplog.text
    (gap,) = noticed  # and someone is told: the night scored, with nulls
    assert (gap.kind, gap.title) == ("data_gap", f"churn: no usage data on main for {night}")
    assert gap.facts["source"] == "usage" and gap.facts["required"] is False
    assert gap.facts["first_date"] == gap.facts["last_date"] == str(night)
    features = run_query(
        settings, f"SELECT sessions FROM features_churn WHERE feature_date = DATE '{night}'"
    )
    assert len(features) == generator.ACCOUNTS and features["sessions"].isna().all()
