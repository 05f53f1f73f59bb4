"""Whether a drift window may request retraining: the loop guard.

A request fires only when k of the last n calendar nights ending at the decision date
breached, no request fired within the cooldown, fewer than the cap fired in the last 30
days, and the window is newer than the data the champion was trained on (so a new model
is never asked to retrain on the very window that made it). A night with no decision is
counted as not monitored, never as a breach, so breaches older than n nights, however few
nights were monitored since, cannot add up to a request. Every decision, fired or
suppressed, is stored with its reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import pandas as pd

from nightjar.core.dataset_config import DriftSpec
from nightjar.core.settings import Settings
from nightjar.io import delta_tables

DECISION_DATE = "decision_date"


@dataclass(frozen=True)
class RetrainDecision:
    """One night's decision, fired or suppressed, with its reason."""

    decision_date: dt.date
    fired: bool
    reason: str
    breached: bool
    breaches_in_window: int
    model_version: str


def decide(
    spec: DriftSpec,
    *,
    window: dt.date,
    breached: bool,
    history: pd.DataFrame,
    champion_trained_through: dt.date | None,
    model_version: str,
) -> RetrainDecision:
    """Apply the guard to one window, given earlier decisions (``history``)."""
    earlier = history[history[DECISION_DATE] < window]
    first_night = window - dt.timedelta(days=spec.breach_n - 1)
    in_span = earlier[earlier[DECISION_DATE] >= first_night]
    breaches = int(in_span["breached"].sum()) + int(breached)
    unmonitored = spec.breach_n - 1 - in_span[DECISION_DATE].nunique()
    span = f"the {spec.breach_n} nights {first_night}..{window}" + (
        f" ({unmonitored} not monitored)" if unmonitored else ""
    )
    fired_before = earlier[earlier["fired"]]
    last_fired = fired_before[DECISION_DATE].max() if len(fired_before) else None
    in_30_days = fired_before[fired_before[DECISION_DATE] > window - dt.timedelta(days=30)]

    def result(fired: bool, reason: str) -> RetrainDecision:
        return RetrainDecision(window, fired, reason, breached, breaches, model_version)

    if breaches < spec.breach_k:
        return result(
            False,
            f"{breaches} of {span} breached; {spec.breach_k} needed",
        )
    if champion_trained_through is not None and window <= champion_trained_through:
        return result(
            False,
            f"champion v{model_version} was trained on data through "
            f"{champion_trained_through}; this window is not new to it",
        )
    if last_fired is not None and (window - last_fired).days < spec.cooldown_days:
        return result(
            False, f"cooldown: last request {last_fired}, {spec.cooldown_days} days must pass"
        )
    if len(in_30_days) >= spec.max_retrains_per_30_days:
        return result(
            False,
            f"cap: {len(in_30_days)} requests in 30 days (max {spec.max_retrains_per_30_days})",
        )
    return result(True, f"{breaches} of {span} breached")


def load_history(settings: Settings, table: str) -> pd.DataFrame:
    """Every decision recorded so far (empty before the first)."""
    data = delta_tables.read(settings.table_uri(table))
    if data is None:
        return pd.DataFrame(
            {
                DECISION_DATE: pd.Series(dtype=object),
                "breached": pd.Series(dtype=bool),
                "fired": pd.Series(dtype=bool),
            }
        )
    return data.to_pandas()


def record(settings: Settings, table: str, decision: RetrainDecision) -> None:
    """Store the decision, replacing any earlier decision for the same window."""
    delta_tables.replace_partition_with_row(
        settings.table_uri(table), asdict(decision), partition_column=DECISION_DATE
    )


def training_declined(
    cooldown_days: int,
    *,
    requested: bool,
    as_of: dt.date,
    newest_as_of: dt.date | None,
) -> str | None:
    """Why a retraining as of ``as_of`` should not run, or None.

    A retrain requested by drift is past ``decide`` already (``drift.cooldown_days``,
    counted between requests): it is declined only when a model trained as of that very
    date exists. A scheduled or manual one is declined when the newest model was trained
    as of a date within ``model.retrain_cooldown_days`` of it: nearly the same data.
    """
    if newest_as_of is None:
        return None
    if requested:
        if newest_as_of == as_of:
            return f"a model trained as of {newest_as_of}, the requested date, exists"
        return None
    if abs((as_of - newest_as_of).days) < cooldown_days:
        return (
            f"a model trained as of {newest_as_of} exists, within the {cooldown_days}-day "
            f"retrain cooldown (model.retrain_cooldown_days) of {as_of}; pass force=true to "
            "retrain anyway"
        )
    return None
