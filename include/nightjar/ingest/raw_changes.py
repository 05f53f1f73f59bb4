"""Which raw-data dates changed on main in a time window: what data-aware triggering acts on.

A merge into main that adds or replaces a day of a scoring source means that day should be
(re)scored. The watcher DAG asks, for its data interval, which commits reached main in it
and which source partitions each one changed (a diff against its first parent). The
answer depends only on the interval and lakeFS's immutable history, so re-running a
window finds the same commits and requests the same dates again, which scoring absorbs
idempotently.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import lakefs

from nightjar.core.dataset_config import DatasetConfig
from nightjar.io.lakefs_client import call_with_retry
from nightjar.io.raw_tables import partition_date
from nightjar.io.snapshots import MAIN

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawChanges:
    """What merges into main changed since the last look: the commits, and the scoring dates
    they touched."""

    commits: list[str] = field(default_factory=list)  # newest first
    dates: list[dt.date] = field(default_factory=list)  # sorted, changed scoring partitions

    @property
    def head(self) -> str | None:
        """The newest commit seen, or None."""
        return self.commits[0] if self.commits else None


def scoring_source_paths(config: DatasetConfig) -> list[str]:
    """Paths of the sources that feed scoring; a label-only change does not need a rescore."""
    return [
        source.path
        for name, source in config.sources.items()
        if name != config.label.source or name == config.base_source
    ]


def commits_in_window(
    client: lakefs.Client, repository: str, start: dt.datetime, end: dt.datetime
) -> list:
    """Commits that became main's head at or after ``start`` and before ``end``, newest
    first: main's first-parent chain, so a merged branch's own commits are not counted
    twice (their merge commit carries their changes)."""
    repo = lakefs.Repository(repository, client=client)
    found = []
    ref = MAIN
    while True:
        commit = call_with_retry(client, lambda ref=ref: repo.ref(ref).get_commit(), what="commit")
        created = dt.datetime.fromtimestamp(commit.creation_date, dt.UTC)
        if created < start or not commit.parents:
            return found
        if created < end:
            found.append(commit)
        ref = commit.parents[0]


def changed_dates(
    client: lakefs.Client, repository: str, commit, source_paths: list[str]
) -> set[dt.date]:
    """Dates of the source partitions ``commit`` added or changed relative to its parent."""
    return changed_between(client, repository, commit.parents[0], commit.id, source_paths)


def changed_between(
    client: lakefs.Client, repository: str, old: str, new: str, source_paths: list[str]
) -> set[dt.date]:
    """Dates of the source partitions that commit ``new`` added or changed relative to
    commit ``old``."""
    base = lakefs.Repository(repository, client=client).ref(old)
    dates = set()
    for path in source_paths:
        changes = call_with_retry(
            client,
            lambda path=path: list(base.diff(new, prefix=f"{path}/")),
            what=f"diff {old[:12]}..{new[:12]} {path}",
        )
        dates |= {
            day
            for change in changes
            if change.type != "removed" and (day := partition_date(change.path))
        }
    return dates


def raw_changes(
    client: lakefs.Client,
    repository: str,
    config: DatasetConfig,
    start: dt.datetime,
    end: dt.datetime,
) -> RawChanges:
    """The commits on main in ``[start, end)`` that changed scoring sources, and the dates."""
    paths = scoring_source_paths(config)
    commits, dates = [], set()
    for commit in commits_in_window(client, repository, start, end):
        touched = changed_dates(client, repository, commit, paths)
        if touched:
            commits.append(commit.id)
            dates |= touched
            log.info(
                "main@%s (%s) changed %s on %d date(s)",
                commit.id[:12],
                commit.message,
                ", ".join(paths),
                len(touched),
            )
    return RawChanges(commits=commits, dates=sorted(dates))
