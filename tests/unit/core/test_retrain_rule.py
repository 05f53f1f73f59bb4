"""The retrain rule, night by night: which signals breach, k of n, the cooldown (requests
and trainings), the cap, the log's precedence, and nights that wait for earlier ones."""

import datetime as dt
from itertools import pairwise

from nightjar.core.dataset_config import DriftSpec
from nightjar.core.gate_policy import RetrainTriggers
from nightjar.core.retrain_rule import (
    ESTIMATED_PERFORMANCE,
    PREDICTION_DRIFT,
    REALISED_PERFORMANCE,
    GuardInputs,
    NightMeasurement,
    Thresholds,
    decide_nights,
    night_signals,
    training_declined,
    window_without_labels,
)

START = dt.date(2026, 3, 1)
TRAINED = dt.date(2026, 2, 28)
HELD_TO = Thresholds(RetrainTriggers(prediction_psi=0.25), floor=0.65, metric="roc_auc")


def _night(i: int, *, psi: float = 0.05, version: str = "1", as_of=TRAINED, **signals):
    return NightMeasurement(
        START + dt.timedelta(days=i), version, as_of, prediction_psi=psi, **signals
    )


def _decide(nights, spec=None, *, requests=None, trained=(TRAINED,), expected=None, outcomes=None):
    """The decisions; unless ``outcomes`` says otherwise, every request's retrain has
    ended and registered a model."""
    measurements = {night.night: night for night in nights}
    inputs = GuardInputs(
        measurements,
        frozenset(expected if expected is not None else measurements),
        requests or {},
        tuple(trained),
        outcomes if outcomes is not None else dict.fromkeys(measurements, True),
    )
    return decide_nights(inputs, spec or DriftSpec(cooldown_days=7), HELD_TO)


def _fired(decisions):
    return [d.decision_date for d in decisions if d.fired]


def test_drift_from_night_three_fires_once_per_cooldown():
    spec = DriftSpec(breach_k=2, breach_n=3, cooldown_days=7, max_retrains_per_30_days=4)
    nights = [_night(i, psi=0.5 if i >= 8 else 0.05) for i in range(22)]
    decisions = _decide(nights, spec)
    assert _fired(decisions) == [START + dt.timedelta(days=9), START + dt.timedelta(days=16)]
    assert all(d.reason for d in decisions)
    assert any("cooldown: a retrain was requested" in d.reason for d in decisions)


def test_no_breach_fires_nothing_and_one_breach_is_not_enough():
    assert _fired(_decide([_night(i) for i in range(14)])) == []
    nights = [_night(i, psi=0.5 if i == 9 else 0.05) for i in range(14)]
    decisions = _decide(nights)
    assert _fired(decisions) == []
    assert "1 of the 3 nights" in decisions[9].reason and "2 needed" in decisions[9].reason


def test_a_model_trained_within_the_cooldown_holds_requests_back():
    nights = [_night(i, psi=0.5) for i in range(10)]
    decisions = _decide(nights, DriftSpec(cooldown_days=7), trained=(TRAINED,))
    # Trained as of Feb 28: nights before Mar 7 are within its 7-day cooldown.
    assert _fired(decisions) == [dt.date(2026, 3, 7)]
    assert "a model was trained as of 2026-02-28" in decisions[1].reason


def test_the_cap_counts_requests_in_the_thirty_days_before():
    spec = DriftSpec(breach_k=1, breach_n=1, cooldown_days=1, max_retrains_per_30_days=3)
    decisions = _decide([_night(i, psi=0.5) for i in range(8)], spec, trained=())
    assert _fired(decisions) == [START, START + dt.timedelta(days=1), START + dt.timedelta(days=2)]
    assert decisions[3].reason.startswith("cap: 3 requests")


def test_a_request_in_the_log_stays_fired_whatever_its_night_measures_now():
    spec = DriftSpec(cooldown_days=7)
    nights = [_night(i) for i in range(10)]  # nothing breaches any more
    decisions = _decide(nights, spec, requests={START + dt.timedelta(days=2): "the log's reason"})
    assert _fired(decisions) == [START + dt.timedelta(days=2)]
    assert decisions[2].reason == "the log's reason"


def test_the_log_holds_later_requests_back_through_the_cooldown():
    nights = [_night(i, psi=0.5) for i in range(12)]
    logged = {START + dt.timedelta(days=1): "fired before"}
    decisions = _decide(nights, DriftSpec(cooldown_days=7), requests=logged, trained=())
    # Mar 3..8 fall in its cooldown; Mar 9 is the first night past it.
    assert _fired(decisions) == [START + dt.timedelta(days=1), START + dt.timedelta(days=8)]


def test_a_night_the_model_was_trained_on_is_not_new_to_it():
    nights = [_night(i, psi=0.5, as_of=START + dt.timedelta(days=5)) for i in range(5)]
    decisions = _decide(nights, DriftSpec(cooldown_days=0), trained=())
    assert _fired(decisions) == []
    assert "not new to it" in decisions[-1].reason


def test_breaches_count_only_under_the_same_model():
    nights = [
        _night(0, psi=0.5, version="1"),
        _night(1, psi=0.5, version="1"),
        _night(2, psi=0.5, version="2", as_of=START + dt.timedelta(days=1)),
        _night(3, psi=0.05, version="2", as_of=START + dt.timedelta(days=1)),
    ]
    spec = DriftSpec(breach_k=2, breach_n=3, cooldown_days=0)
    decisions = _decide(nights, spec, trained=())
    assert decisions[2].breaches_in_window == 1  # v1's breaches are not v2's
    assert not decisions[2].fired


def test_a_night_waits_for_an_expected_earlier_night_then_decides_as_in_order():
    spec = DriftSpec(breach_k=2, breach_n=3, cooldown_days=7)
    nights = [_night(i, psi=0.5 if i >= 8 else 0.05) for i in range(12)]
    all_nights = {n.night for n in nights}
    missing = START + dt.timedelta(days=9)
    partial = _decide([n for n in nights if n.night != missing], spec, expected=all_nights)
    later = [d for d in partial if d.decision_date > missing]
    assert later and all(d.pending and not d.fired for d in later)
    assert "waiting for 2026-03-10" in later[0].reason
    complete = _decide(nights, spec, expected=all_nights)
    assert _fired(complete) == [missing] == _fired(_decide(nights, spec))


def test_nights_before_the_model_was_trained_never_block():
    history = {TRAINED - dt.timedelta(days=i) for i in range(60)}  # raw on main, unscored
    nights = [_night(i) for i in range(3)]
    decisions = _decide(nights, expected=history | {n.night for n in nights})
    assert not any(d.pending for d in decisions)


def test_the_default_triggers_ignore_covariate_drift_that_costs_no_performance():
    defaults = Thresholds(RetrainTriggers(), floor=0.65, metric="roc_auc")
    drifted = _night(0, psi=0.9, drifted_importance_share=0.8, estimated_roc_auc=0.80,
                     expected_roc_auc=0.70)  # fmt: skip
    assert not any(s.breached for s in night_signals(drifted, defaults))
    worse = _night(0, estimated_roc_auc=0.60, expected_roc_auc=0.70)
    breaching = {s.name for s in night_signals(worse, defaults) if s.breached}
    assert breaching == {ESTIMATED_PERFORMANCE}
    below = _night(0, realised=0.6, realised_for=START)
    assert {s.name for s in night_signals(below, defaults) if s.breached} == {REALISED_PERFORMANCE}
    assert {s.name for s in night_signals(drifted, HELD_TO) if s.breached} == {PREDICTION_DRIFT}


def test_a_requested_retrain_is_declined_only_when_a_model_of_that_date_or_later_exists():
    day = dt.date(2026, 3, 5)
    assert training_declined(7, requested=True, as_of=day, trained_as_of=[]) is None
    assert (
        training_declined(7, requested=True, as_of=day, trained_as_of=[day - dt.timedelta(1)])
        is None
    )
    assert "2026-03-05" in training_declined(7, requested=True, as_of=day, trained_as_of=[day])
    later = training_declined(7, requested=True, as_of=day, trained_as_of=[dt.date(2026, 3, 9)])
    assert "2026-03-09" in later


def test_a_scheduled_retrain_is_declined_within_the_cooldown_of_any_model():
    day = dt.date(2026, 3, 8)
    reason = training_declined(7, requested=False, as_of=day, trained_as_of=[dt.date(2026, 3, 5)])
    assert reason and "retrain_cooldown_days" in reason
    far = [dt.date(2026, 1, 1)]
    assert training_declined(7, requested=False, as_of=day, trained_as_of=far) is None


def test_a_night_past_the_cooldown_waits_for_the_requests_retrain_to_end():
    spec = DriftSpec(breach_k=1, breach_n=1, cooldown_days=3, max_retrains_per_30_days=10)
    nights = [_night(i, psi=0.5) for i in range(8)]
    decisions = _decide(nights, spec, trained=(), outcomes={})
    assert _fired(decisions) == [START]
    assert [d.pending for d in decisions] == [False, False, False, True, True, True, True, True]
    assert "waiting for the retrain requested for 2026-03-01 to end" in decisions[3].reason


def test_the_cooldown_doubles_after_each_retrain_in_a_row_that_made_no_model():
    spec = DriftSpec(breach_k=1, breach_n=1, cooldown_days=3, max_retrains_per_30_days=10)
    nights = [_night(i, psi=0.5) for i in range(60)]
    failed = dict.fromkeys((n.night for n in nights), False)
    decisions = _decide(nights, spec, trained=(), outcomes=failed)
    gaps = [(b - a).days for a, b in pairwise(_fired(decisions))]
    assert gaps == [6, 12, 24]  # 3, doubled after each failure (30 at most)
    assert "2 retrain(s) in a row made no model" in decisions[10].reason
    made_a_model = dict.fromkeys((n.night for n in nights), True)
    steady = [
        (b - a).days
        for a, b in pairwise(_fired(_decide(nights, spec, trained=(), outcomes=made_a_model)))
    ]
    assert set(steady) == {3}


def test_a_window_with_no_labels_is_declined_saying_where_the_labels_end():
    labels = [dt.date(2025, 6, 1) + dt.timedelta(days=i) for i in range(30)]
    assert window_without_labels(dt.date(2025, 6, 20), dt.date(2025, 7, 20), labels) is None
    assert window_without_labels(dt.date(2026, 10, 8), dt.date(2026, 12, 6), labels) == (
        "no labels in the training window 2026-10-08..2026-12-06; "
        "the labels on main span 2025-06-01..2025-06-30"
    )
    assert "main has no labels" in window_without_labels(START, START, [])
