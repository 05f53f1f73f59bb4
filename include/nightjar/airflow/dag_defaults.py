"""What every Nightjar DAG shares: retries, start date, the ``date`` param, and whether
time-based schedules are on (each dataset adds its owner, pool and priority:
``dataset_dags``).

Imported by DAG files at parse time, so it imports nothing but Airflow's own modules.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from airflow.sdk import Asset, AssetOrTimeSchedule, CronDataIntervalTimetable, Param

from nightjar.airflow.timetables import CronIntervalsWithoutClock

__all__ = [
    "DEFAULT_ARGS",
    "START_DATE",
    "date_param",
    "nightly_or_assets",
    "time_only",
]

# Early on purpose: the DAGs never catch up (catchup=False), and a backfill or a dated run
# of a dataset's own past must not fall before the start date, where Airflow runs nothing.
START_DATE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
DEFAULT_ARGS = {
    "retries": 2,
    # NIGHTJAR_RETRY_DELAY_SECONDS shortens it where waiting is pointless (tests, the demo).
    "retry_delay": dt.timedelta(seconds=int(os.environ.get("NIGHTJAR_RETRY_DELAY_SECONDS", "120"))),
}


def date_param(description: str) -> Param:
    """The optional ``date`` (YYYY-MM-DD) a manual run or the demo passes in conf."""
    return Param(None, type=["null", "string"], format="date", description=description)


def time_schedules_on() -> bool:
    """False when ``NIGHTJAR_TIME_SCHEDULES`` is off: the DAGs then run only when triggered
    (by hand, by the API or by Asset events). ``nightjar demo`` turns it off, since its
    data is dated in the past and a nightly run for today would find none."""
    return os.environ.get("NIGHTJAR_TIME_SCHEDULES", "true").strip().lower() not in {
        "0",
        "false",
        "no",
        "off",
    }


def nightly_or_assets(cron: str, asset: Asset) -> Any:
    """Run on the daily data intervals of ``cron`` or when ``asset`` is updated. With time
    schedules off the clock starts nothing, but the intervals stay, so a backfill over
    past dates still works (``timetables.CronIntervalsWithoutClock``)."""
    if time_schedules_on():
        timetable = CronDataIntervalTimetable(cron, timezone="UTC")
    else:
        timetable = CronIntervalsWithoutClock(cron, timezone="UTC")
    return AssetOrTimeSchedule(timetable=timetable, assets=asset)


def time_only(timetable: Any) -> Any:
    """``timetable``, or no schedule at all when time schedules are off."""
    return timetable if time_schedules_on() else None
