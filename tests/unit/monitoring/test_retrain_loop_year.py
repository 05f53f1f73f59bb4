"""A year of nightly monitoring with a real model and Nightjar's default retrain triggers:
seasonal covariates alone request nothing; a change of the relation between the features
and the label requests a retrain within days, and each request is consumed once.

The data is ``tests/fixtures/seasonal``'s (a weekly and a yearly cycle, a weather feed
that misses a day now and then), with a label drawn from a fixed relation to the
features, which ``concept_shift_from`` changes. A LightGBM champion is trained on 2025
through Nightjar's own split, fit and predict; its reference (bins, calibration, holdout
roc_auc) by ``build_reference``. Then 2026 is monitored night by night: the night's
probabilities give the estimated roc_auc (CBPE), yesterday's labels the realised one, the
counts the prediction's PSI, and ``decide_nights`` decides with the policy's defaults. A
fired request is consumed the way ``nightjar_retrain`` consumes it: a model trained as of
the request's night replaces the champion for the nights after. Only the Delta, MLflow and
Airflow I/O is left out; ``test_loop_guard_order`` and the scheduler tests cover it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from nightjar.core.dataset_config import load_dataset_config
from nightjar.core.gate_policy import load_policy
from nightjar.core.performance_estimate import estimated_roc_auc
from nightjar.core.retrain_rule import GuardInputs, NightMeasurement, Thresholds, decide_nights
from nightjar.core.vocabulary import PREDICTION, PROBABILITY
from nightjar.monitoring.drift import compare_window
from nightjar.monitoring.drift_reference import Reference, build_reference
from nightjar.training.trainer import fit, predict, split_by_time
from tests.fixtures.seasonal import generator

pytestmark = pytest.mark.slow  # about 40 s: a year of nights, twice, and the retrains
CONFIG = load_dataset_config(Path(__file__).parents[2] / "fixtures/seasonal/seasonal.yaml")
POLICY = load_policy(CONFIG.gate_policy)
HELD_TO = Thresholds(POLICY.retrain_triggers, POLICY.min_primary_metric, POLICY.primary_metric)
FIRST_MODEL_AS_OF = dt.date(2026, 1, 1)
YEAR = [FIRST_MODEL_AS_OF + dt.timedelta(days=i) for i in range(365)]
CONCEPT_SHIFT = dt.date(2026, 6, 10)


@cache
def _night(day: dt.date, shift: dt.date | None) -> pd.DataFrame:
    return generator.labelled_night(day, generator.LabelledSpec(concept_shift_from=shift))


@dataclass
class Champion:
    version: int
    as_of: dt.date
    booster: object
    categories: dict
    reference: Reference


def _train(version: int, as_of: dt.date, shift: dt.date | None) -> Champion:
    """A model trained as of ``as_of`` on the window the config gives, as
    ``nightjar_retrain`` trains it (labels due a day later)."""
    end = as_of - dt.timedelta(days=CONFIG.label.delay_days)
    days = [end - dt.timedelta(days=i) for i in range(CONFIG.model.training_window_days)]
    frame = pd.concat([_night(day, shift) for day in sorted(days)], ignore_index=True)
    train, valid, holdout = split_by_time(CONFIG, frame)
    booster, categories = fit(CONFIG, train, valid)
    holdout = holdout.assign(**{PREDICTION: predict(CONFIG, booster, categories, holdout)})
    reference = build_reference(CONFIG, frame, holdout, importance=None, trained_as_of=as_of)
    return Champion(version, as_of, booster, categories, reference)


@dataclass
class Year:
    """What a year of nights gave: each night's measurement and decision, the requests,
    and the retrains that consumed them."""

    nights: dict[dt.date, NightMeasurement] = field(default_factory=dict)
    realised: dict[dt.date, float] = field(default_factory=dict)
    requests: dict[dt.date, str] = field(default_factory=dict)
    outcomes: dict[dt.date, bool] = field(default_factory=dict)  # a model registered?
    consumed: list[tuple[dt.date, int, bool]] = field(default_factory=list)  # promoted?
    decisions: dict = field(default_factory=dict)


def _monitor_a_year(shift: dt.date | None) -> Year:
    champion = _train(1, FIRST_MODEL_AS_OF, shift)
    trained = [champion.as_of]
    year, served = Year(), {}
    for night in YEAR:
        frame = _night(night, shift)
        probabilities = predict(CONFIG, champion.booster, champion.categories, frame)
        served[night] = (champion.version, frame[CONFIG.label.column], probabilities)
        reference = champion.reference
        counts = {PROBABILITY: reference.bins[PROBABILITY].count(pd.Series(probabilities))}
        (prediction,) = compare_window(
            CONFIG.model_copy(update={"features": {}, "drift": CONFIG.drift}),
            {night: counts},
            (reference.daily, "training data"),
            training=reference.daily,
            yearly={},
        )
        yesterday = night - dt.timedelta(days=CONFIG.label.delay_days)
        realised = None
        if yesterday in served and served[yesterday][0] == champion.version:
            _, labels, scores = served[yesterday]
            realised = float(roc_auc_score(labels, scores))
            year.realised[yesterday] = realised
        year.nights[night] = NightMeasurement(
            night,
            str(champion.version),
            champion.as_of,
            prediction_psi=prediction.comparison.psi,
            estimated_roc_auc=estimated_roc_auc(probabilities, reference.calibration),
            expected_roc_auc=reference.holdout_roc_auc,
            realised=realised,
            realised_for=yesterday if realised is not None else None,
        )
        inputs = GuardInputs(
            year.nights,
            frozenset(year.nights),
            dict(year.requests),
            tuple(trained),
            dict(year.outcomes),
        )
        decision = decide_nights(inputs, CONFIG.drift, HELD_TO)[-1]
        year.decisions[night] = decision
        if decision.fired:  # the retrain DAG consumes it: a model as of the request's night
            year.requests[night] = decision.reason
            challenger = _train(champion.version + 1, night, shift)
            trained.append(night)
            promoted = _passes_the_gate(challenger, champion, shift)
            year.outcomes[night] = promoted
            year.consumed.append((night, challenger.version, promoted))
            champion = challenger if promoted else champion
    return year


def _passes_the_gate(challenger: Champion, champion: Champion, shift: dt.date | None) -> bool:
    """The gate's two metric checks: the floor, and no worse than the champion, both on
    the challenger's holdout (its last ``holdout_days`` nights)."""
    end = challenger.as_of - dt.timedelta(days=CONFIG.label.delay_days)
    days = [end - dt.timedelta(days=i) for i in range(CONFIG.model.split.holdout_days)]
    holdout = pd.concat([_night(day, shift) for day in days], ignore_index=True)
    labels = holdout[CONFIG.label.column]
    new = roc_auc_score(labels, predict(CONFIG, challenger.booster, challenger.categories, holdout))
    old = roc_auc_score(labels, predict(CONFIG, champion.booster, champion.categories, holdout))
    return new >= POLICY.min_primary_metric and new >= old - POLICY.max_regression_vs_champion


def _report(what: str, year: Year) -> None:
    estimated = pd.Series({n: m.estimated_roc_auc for n, m in year.nights.items()})
    realised = pd.Series(year.realised)
    both = pd.DataFrame({"estimated": estimated, "realised": realised}).dropna()
    monthly = both.groupby(lambda day: day.strftime("%Y-%m")).mean().round(3)
    print(f"\n{what}: requests {sorted(year.requests)}, consumed by {year.consumed}")
    print(f"estimated vs realised roc_auc, mean per month:\n{monthly.to_string()}")


@pytest.fixture(scope="module")
def quiet_year() -> Year:
    return _monitor_a_year(shift=None)


@pytest.fixture(scope="module")
def shifted_year() -> Year:
    return _monitor_a_year(shift=CONCEPT_SHIFT)


def test_seasonal_covariates_alone_request_no_retrain(quiet_year):
    _report("quiet year", quiet_year)
    assert quiet_year.requests == {}
    psi = [m.prediction_psi for m in quiet_year.nights.values()]
    assert max(psi) > 0.1, "the predictions do move with the seasons"


def test_the_estimate_follows_the_realised_roc_auc_while_the_relation_holds(quiet_year):
    gaps = [
        quiet_year.nights[day].estimated_roc_auc - value
        for day, value in quiet_year.realised.items()
    ]
    assert abs(np.mean(gaps)) < 0.02 and np.std(gaps) < 0.05


def test_a_changed_relation_requests_a_retrain_within_a_week_and_each_request_once(
    shifted_year,
):
    _report(f"concept shift on {CONCEPT_SHIFT}", shifted_year)
    requests = sorted(shifted_year.requests)
    assert requests, "the changed relation was never noticed"
    assert all(day >= CONCEPT_SHIFT for day in requests), "nothing before the shift"
    assert (requests[0] - CONCEPT_SHIFT).days < 7
    assert [day for day, *_ in shifted_year.consumed] == requests  # each consumed once
    gaps = [(b - a).days for a, b in pairwise(requests)]
    assert all(gap >= CONFIG.drift.cooldown_days for gap in gaps)
    # The estimate cannot see a changed relation (it trusts the model's probabilities):
    # the realised roc_auc is what fired.
    fired_by = {
        s.name for day in requests for s in shifted_year.decisions[day].signals if s.breached
    }
    assert "realised_performance" in fired_by


def test_retrains_that_make_no_model_back_off_until_one_does(shifted_year):
    """After the shift, a retrain on a window still mostly of the old relation fails the
    gate; each failure in a row doubles the cooldown (up to 30 days), so the loop tries
    a handful of times while the new relation fills the window, not every week."""
    requests = sorted(shifted_year.requests)
    gaps = [(b - a).days for a, b in pairwise(requests)]
    print(f"requests {requests}, gaps {gaps}, outcomes {shifted_year.consumed}")
    failed_before = [not promoted for _, _, promoted in shifted_year.consumed][:-1]
    for gap, failed in zip(gaps, failed_before, strict=True):
        assert not failed or gap >= 2 * CONFIG.drift.cooldown_days
    assert len(requests) <= 12, "about one a month at most, after the first weeks"
