"""Where each dataset stands, in one row: its champion, its last scored night, the nights
whose raw data landed but were not scored, its failed scoring runs, its last gate and
its retrain decision. What ``nightjar datasets`` prints and the page's overview shows.

It reads only what is small: the registry's aliases, the scores table's Delta log (not
its rows), one listing of the raw partitions on main, the newest gate decision and the
newest retrain decisions; a dataset of 365 nights of a million rows costs what one of
ten nights does.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from nightjar.core.catalog import catalog_for
from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import SCORE_DATE
from nightjar.evaluation.gate import APPROVAL_LOG
from nightjar.io import delta_tables
from nightjar.promotion import registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetStatus:
    """One dataset at a glance; ``problems`` says what could not be read, and why."""

    dataset: str
    model_name: str
    champion: str | None
    last_night: dt.date | None
    nights_scored: int
    gaps: list[dt.date]
    failed_runs: int | None  # scoring runs whose newest attempt failed; None: Airflow not read
    last_gate: str
    drift: str
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.gaps and not self.failed_runs and not self.problems

    def gap_text(self) -> str:
        """The gaps as people read them: a count and the first and last."""
        if not self.gaps:
            return "none"
        first, last = self.gaps[0], self.gaps[-1]
        span = str(first) if first == last else f"{first}..{last}"
        return f"{len(self.gaps)} ({span})"


def _raw_dates(settings: Settings, config: DatasetConfig) -> set[dt.date]:
    """The dates any scoring source (not the labels) has a partition for on main."""
    from nightjar.io import raw_tables
    from nightjar.io.lakefs_client import make_client
    from nightjar.io.snapshots import MAIN

    client = make_client(settings)
    found: set[dt.date] = set()
    for name, source in config.sources.items():
        if name != config.label.source:
            found |= set(
                raw_tables.list_partitions(client, settings.lakefs_repository, MAIN, source.path)
            )
    return found


def _last_gate(settings: Settings, config: DatasetConfig) -> str:
    """The newest gate decision of the dataset's model: ``passed``/``failed`` and when."""
    table = delta_tables.read(
        settings.table_uri(APPROVAL_LOG),
        filters=[("model_name", "=", config.model.name)],
        columns=["decision", "recorded_at"],
    )
    if table is None or table.num_rows == 0:
        return "none yet"
    newest = max(table.to_pylist(), key=lambda row: row["recorded_at"])
    return f"{newest['decision']} {str(newest['recorded_at'])[:10]}"


def _drift(settings: Settings, config: DatasetConfig) -> str:
    """The retrain decision in force for the newest decided night."""
    from nightjar.monitoring.retrain_log import decisions_in_force

    decisions = decisions_in_force(settings, config)
    if not decisions:
        return "not monitored yet"
    night = max(decisions)
    decision = decisions[night]
    state = "retrain requested" if decision.fired else "pending" if decision.pending else "quiet"
    breached = f", {decision.breaches_in_window} breach(es) in window" if decision.breached else ""
    return f"{state} ({night}{breached})"


def dataset_status(
    settings: Settings, config: DatasetConfig, failed_runs: dict[dt.date, str] | None = None
) -> DatasetStatus:
    """Where ``config``'s dataset stands (``settings``: its own, ``settings_for``);
    ``failed_runs``: each date whose newest scoring run failed, from Airflow (None: not
    read). A part that cannot be read is named in ``problems``; the rest still shows."""
    catalog = catalog_for(settings, config)
    problems: list[str] = []

    def attempt(what: str, read, default):
        try:
            return read()
        except Exception as error:  # one unreadable part leaves the others readable
            log.debug("%s of %s not read", what, config.name, exc_info=True)
            problems.append(f"{what}: {type(error).__name__}: {str(error).splitlines()[0][:120]}")
            return default

    scored = attempt(
        "scores", lambda: delta_tables.partition_dates(catalog.scores, SCORE_DATE), set()
    )
    raw = attempt("raw data", lambda: _raw_dates(settings, config), set())
    first_scored = min(scored, default=None)
    gaps = sorted(d for d in raw - scored if first_scored is not None and d >= first_scored)
    if failed_runs:
        gaps = sorted(set(gaps) | {d for d in failed_runs if d not in scored})
    return DatasetStatus(
        dataset=config.name,
        model_name=config.model.name,
        champion=attempt(
            "registry",
            lambda: registry.version_for_alias(settings, config.model.name, registry.CHAMPION),
            None,
        ),
        last_night=max(scored, default=None),
        nights_scored=len(scored),
        gaps=gaps,
        failed_runs=None if failed_runs is None else len(failed_runs),
        last_gate=attempt("gate", lambda: _last_gate(settings, config), "?"),
        drift=attempt("decisions", lambda: _drift(settings, config), "?"),
        problems=problems,
    )
