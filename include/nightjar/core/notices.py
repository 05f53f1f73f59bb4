"""What a step has to tell people, noted where it happens, sent by the Airflow glue.

A failed gate, a challenger waiting for approval, a retrain requested or declined, a
source with no data on main for a night: the step that decides it knows what to say;
where it goes (an email, a webhook) is the dataset config's ``notifications`` and is
Airflow's business. So a step notes a
``Notice`` here, and the glue collects the notices of one step (``collecting``) and hands
them to the notifiers the config routes them to (``nightjar.airflow.notifications``).

Outside ``collecting`` (the CLI, the tests, a benchmark) a notice goes nowhere. The
scope is a ``ContextVar``, as for ``lineage_record``: each task process runs one step.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

NoticeKind = Literal[
    "gate_failed",
    "awaiting_approval",
    "retrain_requested",
    "retrain_declined",
    "date_failed",
    "data_gap",
]


@dataclass(frozen=True)
class Notice:
    """One thing worth telling: its kind, a one-line title, the text people read, and
    the facts a machine reads (a webhook's JSON)."""

    kind: NoticeKind
    title: str
    text: str
    facts: dict[str, Any] = field(default_factory=dict)


_current: ContextVar[list[Notice] | None] = ContextVar("nightjar_notices", default=None)


@contextmanager
def collecting() -> Iterator[list[Notice]]:
    """Collect the notices of everything run inside the block, in the order noted."""
    collected: list[Notice] = []
    token = _current.set(collected)
    try:
        yield collected
    finally:
        _current.reset(token)


def note(notice: Notice) -> None:
    """Note ``notice`` for whoever collects; nobody outside ``collecting``."""
    collected = _current.get()
    if collected is not None:
        collected.append(notice)
