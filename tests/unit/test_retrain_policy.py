"""The retraining loop guard, night by night."""

import datetime as dt

import pandas as pd

from nightjar.dataset_config import DriftSpec
from nightjar.retrain_policy import DECISION_DATE, decide

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
