"""Shadow scoring: the challenger's scores never reach the consumers' table, and each night's
comparison with the champion is one idempotent row, completed with metrics once labels land."""

import datetime as dt

import pandas as pd
import pytest

from nightjar.embedded import demo_data
from nightjar.features.definitions import FEATURE_DATE
from nightjar.io import delta_tables
from nightjar.scoring import shadow
from nightjar.scoring.scorer import ModelRef, ScoringContext, canary_mix, score_partition
from nightjar.training.trainer import fit

from ..conftest import DAYS

DAY = DAYS[12]


@pytest.fixture(scope="module")
def shadow_world(settings, config, scoring_world):
    """A dataset of its own (so no other test's tables move), with one night scored by a
    champion and, in shadow, by a challenger trained on fewer days."""
    own = config.model_copy(update={"name": "shadow_check"})
    source = settings.table_uri(config.table_name("features"))
    delta_tables.replace_partition(
        settings.table_uri(own.table_name("features")),
        delta_tables.read(source, filters=[(FEATURE_DATE, "=", DAY)]),
        partition_column=FEATURE_DATE,
        value=DAY,
    )
    frame = delta_tables.read(source).to_pandas()
    spec = demo_data.DemoSpec(rows_per_day=600, customers=3000)  # as in scoring_world
    labels = pd.concat([demo_data.labels_for(d, spec) for d in DAYS])
    train = frame.merge(labels, on=config.entity_key)
    booster, categories = fit(
        config, train[train[FEATURE_DATE] < DAYS[2]], train[train[FEATURE_DATE] == DAYS[2]]
    )
    challenger = {"model_text": booster.model_to_string(), "categories": categories}
    context = ScoringContext(
        DAY, "scheduled__x", f"{DAY}T01:00:00+00:00", dt.datetime(2026, 2, 14, tzinfo=dt.UTC)
    )
    roles = [
        (ModelRef("credit_default", "7", "run-a", "champion"), "scores", scoring_world),
        (
            ModelRef("credit_default", "8", "run-b", "challenger"),
            "shadow_scores",
            challenger,
        ),
    ]

    def score_night() -> None:
        for model, table, world in roles:
            score_partition(
                settings,
                own,
                model,
                context,
                table=own.table_name(table),
                categories=world["categories"],
                model_text=world["model_text"],
            )

    score_night()
    return own, score_night, demo_data.labels_for(DAY, spec)


def test_the_challenger_is_scored_only_into_the_shadow_table(settings, shadow_world):
    own, _, _ = shadow_world
    served = delta_tables.read(settings.table_uri(own.table_name("scores"))).to_pandas()
    shadowed = delta_tables.read(settings.table_uri(own.table_name("shadow_scores"))).to_pandas()
    assert set(served["model_version"]) == {"7"}
    assert set(shadowed["model_version"]) == {"8"}
    assert len(served) == len(shadowed)


def test_a_night_compares_to_one_row_and_rerunning_it_changes_nothing(settings, shadow_world):
    own, score_night, _ = shadow_world
    first = shadow.record_night(settings, own, DAY)
    score_night()
    again = shadow.record_night(settings, own, DAY)
    assert first == again
    nights = shadow.history(settings, own, "8")
    assert len(nights) == 1
    night = nights.iloc[0]
    assert (night.champion_version, night.challenger_version) == ("7", "8")
    assert 0.5 < night.decision_agreement < 1.0
    assert night.score_psi > 0 and night.mean_abs_probability_change > 0
    assert night.labelled_rows == 0 and pd.isna(night.champion_metric)


def test_metrics_of_both_models_appear_once_labels_land(settings, config, shadow_world):
    own, _, day_labels = shadow_world
    labels = day_labels.set_index(config.entity_key)[config.label.column]
    row = shadow.record_night(settings, own, DAY, labels=labels)
    assert row["labelled_rows"] == len(day_labels) > 0
    assert 0.5 < row["champion_metric"] <= 1.0 and 0.0 < row["challenger_metric"] <= 1.0
    assert len(shadow.history(settings, own, "8")) == 1


def test_a_night_without_a_challenger_records_nothing(settings, shadow_world):
    own, _, _ = shadow_world
    assert shadow.record_night(settings, own, DAYS[0]) is None


def test_identical_models_agree_fully():
    scores = pd.DataFrame(
        {"id": ["a", "b", "c"], "probability": [0.1, 0.6, 0.9], "decision": [False, True, True]}
    ).assign(model_version="1")
    result = shadow.compare(scores, scores.assign(model_version="2"), key="id")
    assert result["decision_agreement"] == 1.0 and result["score_psi"] == 0.0


def test_a_canary_serves_the_challenger_to_a_stable_share_of_entities(settings, shadow_world):
    own, _, _ = shadow_world
    champion = delta_tables.read(settings.table_uri(own.table_name("scores")))
    challenger = delta_tables.read(settings.table_uri(own.table_name("shadow_scores")))
    served = canary_mix(champion, challenger, key=own.entity_key, share=0.2)
    assert served.equals(canary_mix(champion, challenger, key=own.entity_key, share=0.2))
    frame = served.to_pandas()
    assert sorted(frame[own.entity_key]) == sorted(champion.column(own.entity_key).to_pylist())
    canary = frame[frame["model_version"] == "8"]
    assert 0.15 < len(canary) / len(frame) < 0.25
    assert (canary["model_alias"] == "challenger").all(), "canary rows carry their own lineage"
    expected = challenger.to_pandas().set_index(own.entity_key)["probability"]
    served_canary = canary.set_index(own.entity_key)["probability"]
    assert (served_canary == expected[served_canary.index]).all()

    # The nightly comparison ignores the canary's rows of the served table.
    canary_config = own.model_copy(update={"name": "canary_check"})
    for kind, table in (("scores", served), ("shadow_scores", challenger)):
        delta_tables.replace_partition(
            settings.table_uri(canary_config.table_name(kind)),
            table,
            partition_column="score_date",
            value=DAY,
        )
    night = shadow.record_night(settings, canary_config, DAY)
    assert night["rows"] == len(frame) - len(canary)


def test_the_nightjar_page_shows_the_challengers_shadow_nights(settings, shadow_world):
    from nightjar.core.templates import render
    from nightjar.ui.dashboard import _awaiting_approval

    own, _, _ = shadow_world
    gate = {
        "outcome": "awaiting", "verdict": "passed; awaiting approval as challenger",
        "passed": True, "run_id": "r", "recorded_at": "2026-03-02 04:00", "dag_run_id": "manual__1",
        "against": "v1", "checks": [
            {"name": "min_primary_metric", "value": 0.71, "threshold": 0.65, "passed": True}
        ],
    }  # fmt: skip

    def section(version: str, gates: list[dict]) -> str:
        page = render(
            "nightjar.ui", "page.html.j2", dataset="d", retrain_dag="nightjar_retrain__d",
            model_name="m", champion="1",
            challenger=version, gates=gates, nights=None, drift=None, performance=None,
            approval=_awaiting_approval(settings, own, version, gates), decisions=None,
            requests=None,
            aliases={"columns": [], "rows": []}, entity=None, lineage=None, chain=None,
            day=None, grid=None, raw_problem="", stages=(),
        )  # fmt: skip
        return page

    shown = section("8", [gate])
    assert "Challenger v8: awaiting approval" in shown and str(DAY) in shown
    assert "decision_agreement" in shown and "min_primary_metric" in shown
    assert "nightjar model promote --version 8" in shown
    assert "Shadow-scored beside the champion on 1 night(s)" in shown
    assert "no shadow nights yet" in section("99", [])
