"""The step of ``nightjar_watch_main``: which scoring dates did commits on main change?"""

from __future__ import annotations

import datetime as dt
import logging

from nightjar.core.run_info import RunInfo
from nightjar.io.lakefs_client import make_client
from nightjar.pipeline.common import StepSkipped, step_context
from nightjar.pipeline.contracts import RawDataChanges

log = logging.getLogger(__name__)
MANUAL_LOOKBACK = dt.timedelta(hours=24)


def detect_raw_changes(run: RunInfo) -> RawDataChanges:
    """Dates of scoring sources that commits on main changed in the run's interval (the
    last 24 hours for a manual run); StepSkipped, so no Asset event, when there are none,
    or when the dataset has no champion yet to score them with (onboarding: the data
    lands before the first model, and a scoring run now could only fail)."""
    from nightjar.ingest.raw_changes import raw_changes, scoring_source_paths
    from nightjar.promotion import registry

    settings, config = step_context(run)
    if registry.version_for_alias(settings, config.model.name, registry.CHAMPION) is None:
        raise StepSkipped(
            f"model {config.model.name!r} has no champion yet: no scoring is requested until "
            "the first retrain promotes one (then `nightjar run score --date ...` scores "
            "the nights that landed before it)"
        )
    end = run.interval_end
    start = run.interval_start or end - MANUAL_LOOKBACK
    changes = raw_changes(make_client(settings), settings.lakefs_repository, config, start, end)
    if not changes.dates or changes.head is None:
        raise StepSkipped(
            f"no commit on main changed {', '.join(scoring_source_paths(config))} "
            f"between {start.isoformat()} and {end.isoformat()}"
        )
    log.info(
        "%d commit(s) on main changed %d date(s); requesting scoring of %s",
        len(changes.commits),
        len(changes.dates),
        changes.dates[-1],
    )
    return RawDataChanges(
        date=changes.dates[-1],
        dates=changes.dates,
        commit_id=changes.head,
        repository=settings.lakefs_repository,
        commits=changes.commits,
    )
