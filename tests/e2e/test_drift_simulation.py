"""Fourteen nights of demo data, drift switched on from night 3: the real signals (the
demo's policy retrains on prediction drift) and the real loop guard request one retrain,
which nobody consumes here, so the nights after its cooldown wait for it; each decision
has its reason and the request is in the log; the nights before the drift request
nothing."""

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
    inputs = score.open_snapshot(run)
    score.build_features(run, inputs)
    score.score(run, inputs)


def _monitor(night: dt.date) -> dict:
    run = _run("nightjar_monitor", night)
    drift = monitor.measure_drift(run)
    snapshot = monitor.open_snapshot(run)
    try:
        # No retrain run takes requests here; raising the waiting one again every night
        # would read as a new request.
        monitor.request_retrain(run, snapshot, drift, raise_waiting=False)
        fired = True
    except StepSkipped:
        fired = False
    return {"night": night, "drifted": drift.prediction_psi > 0.25, "fired": fired}


def test_fourteen_nights_with_drift_from_night_three(demo_world, config):
    assert E2E_SPEC.drift_from == NIGHTS[2], "the demo data's drift switch is night 3"
    demo.ingest_days(demo_world, config, NIGHTS[E2E_NIGHTS:], spec=E2E_SPEC)
    outcomes = []
    for night in NIGHTS:
        if night >= NIGHTS[E2E_NIGHTS]:
            _score(night)
        outcomes.append(_monitor(night))

    assert [o["drifted"] for o in outcomes[:2]] == [False, False]
    assert all(o["drifted"] for o in outcomes[2:]), "the predictions drift from night 3 on"
    fired = [o["night"] for o in outcomes if o["fired"]]
    # k=2 of n=3: nights 3 and 4 breach, so night 4 fires. Nobody consumes the request
    # here: the nights of its cooldown are suppressed, and those after it wait for its
    # retrain to end (its outcome sets the next cooldown).
    assert fired == [NIGHTS[3]]
    cooldown_ends = NIGHTS[3] + dt.timedelta(days=config.drift.cooldown_days)

    from nightjar.monitoring.retrain_log import decisions_in_force, read_events, requests

    decided = decisions_in_force(demo_world, config)
    decided = {day: d for day, d in decided.items() if day <= NIGHTS[-1]}
    assert sorted(decided) == NIGHTS and all(d.reason for d in decided.values())
    suppressed = [d.reason for d in decided.values() if not d.fired]
    assert any("cooldown" in reason for reason in suppressed)
    assert sum("breached; 2 needed" in reason for reason in suppressed) >= 2
    waiting = sorted(day for day, d in decided.items() if d.pending)
    assert waiting == [day for day in NIGHTS if day >= cooldown_ends]
    assert all(f"retrain requested for {NIGHTS[3]} to end" in decided[d].reason for d in waiting)
    assert sorted(requests(read_events(demo_world, config))) == fired
