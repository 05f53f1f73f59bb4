"""The retrain loop's rule, with no I/O: which nights breach, and which breaches request a
retrain.

A night is judged on **signals** of the model that served it: prediction drift,
feature drift weighted by the model's importance, performance estimated from its
calibrated probabilities (CBPE), and realised performance once the labels of the night
they are due for have landed. The policy file's ``retrain_triggers`` say which of them
may breach a night, and at what threshold; the rest are measured and reported only.

A breach does not request a retrain by itself. ``decide_nights`` walks the nights in
date order and fires a request only when ``breach_k`` of the last ``breach_n`` calendar
nights served by the same model breached, the night is newer than that model's training
data, no request was made and no model was trained within ``cooldown_days`` before it,
and fewer than ``max_retrains_per_30_days`` requests were made in the 30 days before it.
The cooldown doubles after each request in a row whose retrain made no model (the gate
failed it, or it was declined), up to 30 days: a model that retraining cannot fix yet (a
changed relation, and too little data of the new one) is not retrained every week.

It is a pure function of what it is given: the measurements of the nights, the nights
that are expected to be scored, the request log and the models trained. Whatever order,
repetition or concurrency of monitoring runs produced those inputs, the same inputs give
the same decisions, so the rule is checked once in order here, and the callers only have
to bring complete inputs:

- **a request in the log is a fact.** A night the log says fired stays fired, whatever
  its measurement says today: re-deciding a night never un-fires a request;
- **a night waits for the nights before it.** A night whose decision depends on an
  earlier night that is expected (its data is on main, or it is scored) but not yet
  measured is left *pending*, and requests nothing, until that night is measured; so a
  backfill that monitors a later date first reaches the same decisions as one in-order
  nightly pass. A night past a request's cooldown likewise waits for that request's
  retrain to end, since its outcome sets the next cooldown.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

from nightjar.core.dataset_config import DriftSpec
from nightjar.core.gate_policy import RetrainTriggers

CAP_DAYS = 30  # the cap counts requests in the 30 days before a night

PREDICTION_DRIFT = "prediction_drift"
FEATURE_DRIFT = "feature_drift"
ESTIMATED_PERFORMANCE = "estimated_performance"
REALISED_PERFORMANCE = "realised_performance"
SIGNALS = (PREDICTION_DRIFT, FEATURE_DRIFT, ESTIMATED_PERFORMANCE, REALISED_PERFORMANCE)


@dataclass(frozen=True)
class NightMeasurement:
    """What monitoring measured of one night, under the model version that served it."""

    night: dt.date
    model_version: str
    trained_as_of: dt.date | None  # the serving model's training data ends here
    prediction_psi: float | None = None
    drifted_features: tuple[str, ...] = ()
    drifted_importance_share: float | None = None
    estimated_roc_auc: float | None = None
    expected_roc_auc: float | None = None  # the serving model's holdout roc_auc, night by night
    realised: float | None = None  # realised primary metric of the night whose labels are due
    realised_for: dt.date | None = None  # ...which is this night minus the label delay


@dataclass(frozen=True)
class Signal:
    """One signal of a night: its value, the threshold it is held to (None: measured and
    reported, but not a trigger), and whether it breached."""

    name: str
    value: float | None
    threshold: float | None
    breached: bool
    detail: str


@dataclass(frozen=True)
class Thresholds:
    """What the signals are held to: the policy file's triggers and the gate's floor."""

    triggers: RetrainTriggers
    floor: float  # the gate's min_primary_metric
    metric: str  # the gate's primary metric, which realised performance is measured in


def night_signals(night: NightMeasurement, held_to: Thresholds) -> list[Signal]:
    """Each signal of ``night``, against its trigger."""
    triggers = held_to.triggers

    def above(value: float | None, limit: float | None) -> bool:
        return value is not None and limit is not None and value > limit

    drop = (
        None
        if night.estimated_roc_auc is None or night.expected_roc_auc is None
        else night.expected_roc_auc - night.estimated_roc_auc
    )
    realised_floor = held_to.floor if triggers.realised_below_floor else None
    return [
        Signal(
            PREDICTION_DRIFT,
            night.prediction_psi,
            triggers.prediction_psi,
            above(night.prediction_psi, triggers.prediction_psi),
            "PSI of the predicted probabilities over the window",
        ),
        Signal(
            FEATURE_DRIFT,
            night.drifted_importance_share,
            triggers.drifted_importance_share,
            above(night.drifted_importance_share, triggers.drifted_importance_share),
            "share of the model's gain importance on drifted features"
            + (f" ({', '.join(night.drifted_features)})" if night.drifted_features else ""),
        ),
        Signal(
            ESTIMATED_PERFORMANCE,
            drop,
            triggers.estimated_performance_drop,
            above(drop, triggers.estimated_performance_drop),
            "the holdout's nightly roc_auc minus the roc_auc estimated from calibrated "
            "probabilities"
            + (
                f" ({night.expected_roc_auc:.4f} - {night.estimated_roc_auc:.4f})"
                if drop is not None
                else ""
            ),
        ),
        Signal(
            REALISED_PERFORMANCE,
            night.realised,
            realised_floor,
            night.realised is not None
            and realised_floor is not None
            and night.realised < realised_floor,
            f"realised {held_to.metric} of {night.realised_for}, against the gate's floor"
            if night.realised_for
            else "labels not due yet",
        ),
    ]


def breached(signals: list[Signal]) -> bool:
    """Whether any trigger breached."""
    return any(signal.breached for signal in signals)


@dataclass(frozen=True)
class Decision:
    """A night's decision: fired, suppressed or pending, and why."""

    decision_date: dt.date
    fired: bool
    pending: bool
    reason: str
    breached: bool
    breaches_in_window: int
    model_version: str
    signals: tuple[Signal, ...] = field(default_factory=tuple)

    def signals_json(self) -> str:
        """The signals as a JSON list, as the decisions table stores them."""
        return json.dumps([asdict(signal) for signal in self.signals], sort_keys=True)

    def same_as(self, other: Decision | None) -> bool:
        """Whether ``other`` says the same thing (so recording this one again adds nothing)."""
        return other is not None and _comparable(self) == _comparable(other)


def _comparable(decision: Decision) -> tuple:
    return (
        decision.decision_date,
        decision.fired,
        decision.pending,
        decision.reason,
        decision.breached,
        decision.breaches_in_window,
        decision.model_version,
        decision.signals_json(),
    )


@dataclass(frozen=True)
class GuardInputs:
    """Everything the rule reads: nothing else decides a night."""

    measurements: Mapping[dt.date, NightMeasurement]
    """Each measured night, under the version that served it (a stale or missing
    measurement is absent)."""
    expected: frozenset[dt.date]
    """Nights that are or will be scored: their data is on main, or they are scored."""
    requests: Mapping[dt.date, str]
    """The request log: each night a request was made for, and its reason."""
    trained_as_of: tuple[dt.date, ...]
    """The as-of dates of every model trained (requested, scheduled or by hand)."""
    outcomes: Mapping[dt.date, bool] = field(default_factory=dict)
    """Each request whose retrain ended: True if it registered a model, False if it was
    declined or its model failed the gate (absent: not ended yet)."""


def horizon_days(spec: DriftSpec) -> int:
    """How far back a night's decision looks: its breach span, cooldown and cap."""
    return max(spec.breach_n, spec.cooldown_days, CAP_DAYS)


def decide_nights(inputs: GuardInputs, spec: DriftSpec, held_to: Thresholds) -> list[Decision]:
    """The decision of every measured night, oldest first (see the module's docstring)."""
    horizon = dt.timedelta(days=horizon_days(spec))
    requested = dict(inputs.requests)
    breaching = {
        night: breached(night_signals(measured, held_to))
        for night, measured in inputs.measurements.items()
    }
    decisions = []
    for night in sorted(inputs.measurements):
        measured = inputs.measurements[night]
        span = [night - dt.timedelta(days=i) for i in range(spec.breach_n - 1, -1, -1)]
        breaches = sum(
            breaching[day]
            for day in span
            if day in inputs.measurements
            and inputs.measurements[day].model_version == measured.model_version
        )
        verdict = _NightVerdict(measured, tuple(night_signals(measured, held_to)), breaches)
        if night in requested:
            decisions.append(verdict.decide(True, requested[night]))
            continue
        waiting = sorted(
            day
            for day in inputs.expected
            if night - horizon <= day < night
            and day not in inputs.measurements
            and (measured.trained_as_of is None or day > measured.trained_as_of)
        )
        if waiting:
            reason = f"pending: waiting for {_dates(waiting)} to be scored and monitored"
            decisions.append(verdict.decide(False, reason, pending=True))
            continue
        decisions.append(_rule(verdict, span, requested, inputs, spec))
        if decisions[-1].fired:
            requested[night] = decisions[-1].reason
    return decisions


@dataclass(frozen=True)
class _NightVerdict:
    """A night's measurement, signals and breaches, from which its decision is made."""

    measured: NightMeasurement
    signals: tuple[Signal, ...]
    breaches: int

    def decide(self, fired: bool, reason: str, *, pending: bool = False) -> Decision:
        return Decision(
            self.measured.night,
            fired,
            pending,
            reason,
            breached(list(self.signals)),
            self.breaches,
            self.measured.model_version,
            self.signals,
        )


def _rule(
    verdict: _NightVerdict,
    span: list[dt.date],
    requested: Mapping[dt.date, str],
    inputs: GuardInputs,
    spec: DriftSpec,
) -> Decision:
    """The guard's rules, in order, for a night that is measured and has its inputs."""
    measured, breaches = verdict.measured, verdict.breaches
    night = measured.night
    unmonitored = sum(day not in inputs.measurements for day in span[:-1])
    words = f"the {spec.breach_n} nights {span[0]}..{night}" + (
        f" ({unmonitored} not monitored)" if unmonitored else ""
    )
    if breaches < spec.breach_k:
        return verdict.decide(False, f"{breaches} of {words} breached; {spec.breach_k} needed")
    if measured.trained_as_of is not None and night <= measured.trained_as_of:
        return verdict.decide(
            False,
            f"v{measured.model_version} was trained on data through "
            f"{measured.trained_as_of}; this night is not new to it",
        )
    cooldown = dt.timedelta(days=spec.cooldown_days)
    earlier = sorted(day for day in requested if day < night)
    if earlier:
        last = earlier[-1]
        if last not in inputs.outcomes and night - last >= cooldown:
            return verdict.decide(
                False,
                f"pending: waiting for the retrain requested for {last} to end",
                pending=True,
            )
        failures = _failures_in_a_row(earlier, inputs.outcomes)
        gap = min(spec.cooldown_days * 2**failures, CAP_DAYS)
        if (night - last).days < gap:
            why = f" ({failures} retrain(s) in a row made no model)" if failures else ""
            return verdict.decide(
                False, f"cooldown: a retrain was requested for {last}; {gap} days must pass{why}"
            )
    # Trainings before the night only: a model as of the night itself is what this night's
    # own request made, and must not turn its decision around once it exists (the retrain
    # step declines a request that a model of its date already answers).
    recent_trainings = [day for day in inputs.trained_as_of if night - cooldown < day < night]
    if recent_trainings:
        return verdict.decide(
            False,
            f"cooldown: a model was trained as of {max(recent_trainings)}; "
            f"{spec.cooldown_days} days must pass",
        )
    month = [day for day in requested if night - dt.timedelta(days=CAP_DAYS) < day < night]
    if len(month) >= spec.max_retrains_per_30_days:
        return verdict.decide(
            False,
            f"cap: {len(month)} requests in the {CAP_DAYS} days before "
            f"(max {spec.max_retrains_per_30_days})",
        )
    fired_by = ", ".join(signal.name for signal in verdict.signals if signal.breached)
    return verdict.decide(True, f"{breaches} of {words} breached ({fired_by or 'earlier nights'})")


def _failures_in_a_row(requests: list[dt.date], outcomes: Mapping[dt.date, bool]) -> int:
    """How many of the latest requests, in a row, ended without a model."""
    failures = 0
    for day in reversed(requests):
        if outcomes.get(day) is not False:
            break
        failures += 1
    return failures


def _dates(days: list[dt.date]) -> str:
    if len(days) <= 3:
        return ", ".join(map(str, days))
    return f"{days[0]}..{days[-1]} ({len(days)} nights)"


def training_declined(
    cooldown_days: int,
    *,
    requested: bool,
    as_of: dt.date,
    trained_as_of: list[dt.date],
) -> str | None:
    """Why a retraining as of ``as_of`` should not run, or None.

    A retrain requested by the loop guard is past ``decide_nights`` already (its
    cooldown counts requests and trainings): it is declined only when a model trained as
    of that date or later exists, since a model of older data would replace a newer one.
    A scheduled or manual one is declined when a model was trained as of a date within
    ``model.retrain_cooldown_days`` of it: nearly the same data.
    """
    if not trained_as_of:
        return None
    if requested:
        later = [day for day in trained_as_of if day >= as_of]
        if later:
            return (
                f"a model trained as of {max(later)} exists, not older than the requested "
                f"date {as_of}"
            )
        return None
    near = [day for day in trained_as_of if abs((as_of - day).days) < cooldown_days]
    if near:
        closest = min(near, key=lambda day: abs((as_of - day).days))
        return (
            f"a model trained as of {closest} exists, within the {cooldown_days}-day "
            f"retrain cooldown (model.retrain_cooldown_days) of {as_of}; pass force=true to "
            "retrain anyway"
        )
    return None


def window_without_labels(
    start: dt.date, end: dt.date, label_dates: Iterable[dt.date]
) -> str | None:
    """Why a training window ``start..end`` cannot train, or None: no label partition in it.

    A scheduled retrain is dated by the clock, not by the data: a deployment whose newest
    labels are older than the window (a paused export, a demo dated in the past) would
    otherwise fail every week on an empty training set. It is declined, saying where the
    labels end, and retries nothing.
    """
    dates = sorted(label_dates)
    if any(start <= day <= end for day in dates):
        return None
    where = f"the labels on main span {dates[0]}..{dates[-1]}" if dates else "main has no labels"
    return f"no labels in the training window {start}..{end}; {where}"
