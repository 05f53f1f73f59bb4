"""The retraining loop guard, night by night."""

import datetime as dt

import pandas as pd

from nightjar.core.dataset_config import DriftSpec
from nightjar.monitoring.retrain_policy import DECISION_DATE, decide

START = dt.date(2026, 3, 1)


def _simulate(breaches: list[bool], spec: DriftSpec, trained_through=dt.date(2026, 2, 28)):
    history = pd.DataFrame(
        {
            DECISION_DATE: pd.Series(dtype=object),
            "breached": pd.Series(dtype=bool),
            "fired": pd.Series(dtype=bool),
        }
    )
    decisions = []
    for i, breached in enumerate(breaches):
        window = START + dt.timedelta(days=i)
        decision = decide(
            spec,
            window=window,
            breached=breached,
            history=history,
            champion_trained_through=trained_through,
            model_version="1",
        )
        decisions.append(decision)
        history = pd.concat(
            [
                history,
                pd.DataFrame(
                    [{DECISION_DATE: window, "breached": breached, "fired": decision.fired}]
                ),
            ],
            ignore_index=True,
        )
    return decisions


def test_drift_from_night_three_fires_once_per_cooldown():
    spec = DriftSpec(breach_k=2, breach_n=3, cooldown_days=7, max_retrains_per_30_days=4)
    decisions = _simulate([False, False] + [True] * 12, spec)
    fired = [d.decision_date for d in decisions if d.fired]
    assert fired == [START + dt.timedelta(days=3), START + dt.timedelta(days=10)]
    assert all(d.reason for d in decisions)
    assert any("cooldown" in d.reason for d in decisions if not d.fired)


def test_no_drift_fires_nothing():
    decisions = _simulate([False] * 14, DriftSpec())
    assert not any(d.fired for d in decisions)


def test_single_breach_is_not_enough():
    decisions = _simulate(
        [False, True, False, False, True, False], DriftSpec(breach_k=2, breach_n=3)
    )
    assert not any(d.fired for d in decisions)


def test_never_retrains_on_a_window_the_champion_was_trained_on():
    decisions = _simulate(
        [True] * 4, DriftSpec(breach_k=1, breach_n=1), trained_through=START + dt.timedelta(days=10)
    )
    assert not any(d.fired for d in decisions)
    assert "trained on data through" in decisions[-1].reason


def test_cap_per_30_days():
    spec = DriftSpec(breach_k=1, breach_n=1, cooldown_days=0, max_retrains_per_30_days=2)
    assert sum(d.fired for d in _simulate([True] * 10, spec)) == 2


def _decide_after(history_rows: list[tuple[dt.date, bool]], night: dt.date, breached: bool):
    history = pd.DataFrame(
        [{DECISION_DATE: d, "breached": b, "fired": False} for d, b in history_rows],
        columns=[DECISION_DATE, "breached", "fired"],
    )
    return decide(
        DriftSpec(breach_k=2, breach_n=3),
        window=night,
        breached=breached,
        history=history,
        champion_trained_through=START - dt.timedelta(days=1),
        model_version="1",
    )


def test_breaches_older_than_n_calendar_nights_do_not_count():
    """Six weeks without monitoring between two breaches: not 2 of the last 3 windows."""
    old_breach = START
    tonight = START + dt.timedelta(days=42)
    decision = _decide_after([(old_breach, True)], tonight, True)
    assert not decision.fired
    assert decision.breaches_in_window == 1
    assert "2 not monitored" in decision.reason and str(tonight) in decision.reason


def test_a_missing_night_counts_as_not_monitored_not_as_a_breach():
    decision = _decide_after([(START, True)], START + dt.timedelta(days=2), True)
    assert decision.fired  # 2 of the 3 nights START..START+2 breached
    assert "(1 not monitored)" in decision.reason
    quiet = _decide_after([(START, False)], START + dt.timedelta(days=2), True)
    assert not quiet.fired and "1 of the 3 nights" in quiet.reason


def test_a_training_is_declined_on_nearly_the_same_data_unless_drift_asked_for_a_new_date():
    from nightjar.monitoring.retrain_policy import training_declined

    newest = START
    nearby, far = START + dt.timedelta(days=3), START + dt.timedelta(days=7)
    scheduled = training_declined(7, requested=False, as_of=nearby, newest_as_of=newest)
    assert "retrain cooldown (model.retrain_cooldown_days)" in scheduled
    assert training_declined(7, requested=False, as_of=far, newest_as_of=newest) is None
    # a request already passed the loop guard's drift.cooldown_days
    assert training_declined(7, requested=True, as_of=nearby, newest_as_of=newest) is None
    same = training_declined(7, requested=True, as_of=newest, newest_as_of=newest)
    assert "the requested date, exists" in same
    assert training_declined(7, requested=False, as_of=nearby, newest_as_of=None) is None
