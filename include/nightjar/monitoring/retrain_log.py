"""The retrain loop's history: the request log and the decisions, both appended to, never
rewritten.

``retrain_requests_<dataset>`` is a log of events about requests, one row each:

- ``requested``: the guard fired for a night (its reason and signals);
- ``started``: a retrain run took the request and trains as of it;
- ``declined``: a retrain run took the request and made no model (why: a model of that
  date or later exists, or the new one is byte-identical to the champion);
- ``gate_failed``: the model it trained failed the gate (the checks);
- ``trained``: the model it trained was registered (its version; champion, or awaiting
  approval).

A request is the ``requested`` event of its night: once in the log it stays, whatever a
later measurement of that night says, and the cooldown and the cap count these events,
not decision rows. ``retrain_decisions_<dataset>`` keeps every decision a monitoring run
took, each new one appended only when it says something new about its night; the
decision in force for a night is its newest row.

Appending is safe to repeat and to race: an event already in the log (the same night,
kind and run) is not appended again, and readers keep the first of any duplicates two
concurrent runs appended.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pyarrow as pa

from nightjar.core.catalog import catalog_for
from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.retrain_rule import Decision
from nightjar.core.settings import Settings
from nightjar.io import delta_tables

REQUESTS = "retrain_requests"
DECISIONS = "retrain_decisions"
DECISION_DATE = "decision_date"
REQUEST_DATE = "request_date"

REQUESTED, STARTED, DECLINED, GATE_FAILED, TRAINED = (
    "requested",
    "started",
    "declined",
    "gate_failed",
    "trained",
)
EVENTS = (REQUESTED, STARTED, DECLINED, GATE_FAILED, TRAINED)

_TIMESTAMP = pa.timestamp("us", tz="UTC")
REQUEST_SCHEMA = pa.schema(
    [
        pa.field(REQUEST_DATE, pa.date32()),
        pa.field("event", pa.string()),
        pa.field("event_at", _TIMESTAMP),
        pa.field("dag_run_id", pa.string()),
        pa.field("model_version", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("signals", pa.string()),
    ]
)
DECISION_SCHEMA = pa.schema(
    [
        pa.field(DECISION_DATE, pa.date32()),
        pa.field("fired", pa.bool_()),
        pa.field("pending", pa.bool_()),
        pa.field("reason", pa.string()),
        pa.field("breached", pa.bool_()),
        pa.field("breaches_in_window", pa.int64()),
        pa.field("model_version", pa.string()),
        pa.field("signals", pa.string()),
        pa.field("decided_at", _TIMESTAMP),
        pa.field("dag_run_id", pa.string()),
    ]
)


@dataclass(frozen=True)
class RequestEvent:
    """One event of the request log."""

    request_date: dt.date
    event: str
    event_at: dt.datetime
    dag_run_id: str
    reason: str
    model_version: str | None = None
    signals: str = "[]"

    @property
    def key(self) -> tuple[dt.date, str, str]:
        """What makes an event the same event: its night, its kind and its run (a request
        is one per night, whichever run made it)."""
        return (self.request_date, self.event, "" if self.event == REQUESTED else self.dag_run_id)


def read_events(settings: Settings, config: DatasetConfig) -> list[RequestEvent]:
    """Every event of the log, oldest first, without the duplicates of racing runs."""
    table = delta_tables.read(catalog_for(settings, config).table(REQUESTS))
    if table is None:
        return []
    events = sorted(
        (
            RequestEvent(**{name: row[name] for name in REQUEST_SCHEMA.names})
            for row in table.to_pylist()
        ),
        key=lambda event: (event.event_at, event.event),
    )
    seen, kept = set(), []
    for event in events:
        if event.key not in seen:
            seen.add(event.key)
            kept.append(event)
    return kept


def requests(events: list[RequestEvent]) -> dict[dt.date, str]:
    """Each night a request was made for, and the reason it was made."""
    return {e.request_date: e.reason for e in events if e.event == REQUESTED}


def waiting(events: list[RequestEvent]) -> dict[dt.date, RequestEvent]:
    """Each request no retrain run has taken yet (neither ``started`` nor ``declined``):
    Airflow queues no run for an Asset event while ``nightjar_retrain`` is paused, so a
    request made meanwhile waits here until a monitoring run raises it again."""
    taken = {e.request_date for e in events if e.event in (STARTED, DECLINED)}
    return {
        e.request_date: e for e in events if e.event == REQUESTED and e.request_date not in taken
    }


def taken_by(events: list[RequestEvent], dag_run_id: str) -> set[dt.date]:
    """The requests the run ``dag_run_id`` took (its ``started`` or ``declined`` events)."""
    return {
        e.request_date
        for e in events
        if e.event in (STARTED, DECLINED) and e.dag_run_id == dag_run_id
    }


def outcomes(events: list[RequestEvent]) -> dict[dt.date, bool]:
    """Each request whose retrain ended: True when it registered a model (``trained``),
    False when it was declined or its model failed the gate."""
    ended: dict[dt.date, bool] = {}
    for event in events:
        if event.event == TRAINED:
            ended[event.request_date] = True
        elif event.event in (DECLINED, GATE_FAILED):
            ended.setdefault(event.request_date, False)
    return ended


def append_events(
    settings: Settings, config: DatasetConfig, new: list[RequestEvent]
) -> list[RequestEvent]:
    """Append the events the log does not hold yet (in one commit); return those."""
    held = {event.key for event in read_events(settings, config)}
    fresh = [event for event in new if event.key not in held]
    if fresh:
        delta_tables.append(
            catalog_for(settings, config).table(REQUESTS),
            pa.Table.from_pylist(
                [{name: getattr(e, name) for name in REQUEST_SCHEMA.names} for e in fresh],
                schema=REQUEST_SCHEMA,
            ),
        )
    return fresh


def decisions_in_force(settings: Settings, config: DatasetConfig) -> dict[dt.date, Decision]:
    """The newest decision recorded for each night."""
    table = delta_tables.read(catalog_for(settings, config).table(DECISIONS))
    if table is None:
        return {}
    rows = table.to_pylist()
    newest: dict[dt.date, dict] = {}
    for order, row in enumerate(rows):
        decided_at = row.get("decided_at") or dt.datetime.min.replace(tzinfo=dt.UTC)
        day = row[DECISION_DATE]
        if day not in newest or (decided_at, order) >= newest[day]["_order"]:
            newest[day] = {**row, "_order": (decided_at, order)}
    return {day: _decision(row) for day, row in newest.items()}


def _decision(row: dict) -> Decision:
    from nightjar.core.retrain_rule import Signal

    return Decision(
        decision_date=row[DECISION_DATE],
        fired=bool(row["fired"]),
        pending=bool(row.get("pending")),
        reason=row["reason"],
        breached=bool(row["breached"]),
        breaches_in_window=int(row["breaches_in_window"]),
        model_version=str(row["model_version"]),
        signals=tuple(Signal(**signal) for signal in json.loads(row.get("signals") or "[]")),
    )


def append_decisions(
    settings: Settings, config: DatasetConfig, decisions: list[Decision], *, dag_run_id: str
) -> list[Decision]:
    """Append the decisions that say something new about their night (in one commit);
    return those."""
    in_force = decisions_in_force(settings, config)
    fresh = [d for d in decisions if not d.same_as(in_force.get(d.decision_date))]
    if fresh:
        now = dt.datetime.now(dt.UTC)
        delta_tables.append(
            catalog_for(settings, config).table(DECISIONS),
            pa.Table.from_pylist(
                [
                    {
                        DECISION_DATE: d.decision_date,
                        "fired": d.fired,
                        "pending": d.pending,
                        "reason": d.reason,
                        "breached": d.breached,
                        "breaches_in_window": d.breaches_in_window,
                        "model_version": d.model_version,
                        "signals": d.signals_json(),
                        "decided_at": now,
                        "dag_run_id": dag_run_id,
                    }
                    for d in fresh
                ],
                schema=DECISION_SCHEMA,
            ),
            partition_by=[DECISION_DATE],
        )
    return fresh
