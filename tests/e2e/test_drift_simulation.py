"""Fourteen nights of demo data, drift switched on from night 3: the real drift statistics
and the real loop guard request exactly one retrain per cooldown, each decision with its
reason; the nights before the drift request nothing."""

import datetime as dt

import pytest

from nightjar.core.run_info import RunInfo
from nightjar.embedded import demo
from nightjar.embedded.demo import FIRST_NIGHT
from nightjar.pipeline import monitor, score
from nightjar.pipeline.common import StepSkipped

from .conftest import E2E_NIGHTS, E2E_SPEC

pytestmark = pytest.mark.e2e
NIGHTS = [FIRST_NIGHT + dt.timedelta(days=i) for i in range(14)]


def _run(dag_id: str, night: dt.date) -> RunInfo:
    return RunInfo(
        dag_id,
        f"test__simulation_{night}",
        f"{night}T01:00:00+00:00",
        night,
        dt.datetime.combine(night + dt.timedelta(days=1), dt.time(), dt.UTC),
    )


def _score(night: dt.date) -> None:
    run = _run("nightjar_score", night)
    snapshot = score.open_snapshot(run)
    score.build_features(run, snapshot)
    score.score(run, score.resolve_models(run))
    score.close_snapshot(run, snapshot)


def _monitor(night: dt.date) -> dict:
    run = _run("nightjar_monitor", night)
    drift = monitor.measure_drift(run)
    try:
        monitor.request_retrain(run, drift)
        fired = True
    except StepSkipped:
        fired = False
    return {"night": night, "breached": drift.breached, "fired": fired}


def test_fourteen_nights_with_drift_from_night_three(demo_world, config):
    assert E2E_SPEC.drift_from == NIGHTS[2], "the demo data's drift switch is night 3"
    demo.ingest_days(demo_world, config, NIGHTS[E2E_NIGHTS:], spec=E2E_SPEC)
    outcomes = []
    for night in NIGHTS:
        if night >= NIGHTS[E2E_NIGHTS]:
            _score(night)
        outcomes.append(_monitor(night))

    assert [o["breached"] for o in outcomes[:2]] == [False, False]
    assert all(o["breached"] for o in outcomes[2:]), "drift is seen every night from night 3"
    fired = [o["night"] for o in outcomes if o["fired"]]
    cooldown = config.drift.cooldown_days
    # k=2 of n=3: nights 3 and 4 breach, so night 4 fires; then one request per cooldown.
    assert fired == [NIGHTS[3], NIGHTS[3] + dt.timedelta(days=cooldown)]

    from nightjar.io.analytics import run_query

    decisions = run_query(
        demo_world,
        f"SELECT decision_date, fired, reason FROM {config.table_name('retrain_decisions')} "
        "ORDER BY decision_date",
    )
    decisions = decisions[decisions["decision_date"].astype(str) <= str(NIGHTS[-1])]
    assert len(decisions) == 14 and decisions["reason"].str.len().gt(0).all()
    suppressed = decisions[~decisions["fired"]]["reason"]
    assert suppressed.str.contains("cooldown").sum() >= 1
    assert suppressed.str.contains("breached; 2 needed").sum() >= 2
