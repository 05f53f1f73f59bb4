"""The nightly timetable with the clock off: backfills, manual and Asset runs only.

With ``NIGHTJAR_TIME_SCHEDULES`` off (the demo, a home whose data is dated in the past),
no scoring run may start by the clock. A DAG without a periodic schedule cannot be
backfilled, though (``airflow backfill create`` and the UI's backfill dialog refuse it),
and backfilling past dates is just what such a home is for. This timetable keeps the
cron's daily data intervals for backfills and answers no when the scheduler asks for the
next run. Airflow asks both questions through ``next_dagrun_info``: the scheduler with
the DAG's own restriction (``catchup=False`` on every Nightjar DAG), a backfill with
``catchup=True`` while it lists its dates; ``tests/unit/airflow/test_dagbag.py`` pins
that on the installed Airflow. The plugin registers the class, as Airflow requires of a
custom timetable, so the scheduler, the API server and the CLI can read it back.
"""

from __future__ import annotations

from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction
from airflow.timetables.interval import CronDataIntervalTimetable


class CronIntervalsWithoutClock(CronDataIntervalTimetable):
    """A cron's data intervals for backfills and manual runs; no run by the clock."""

    @property
    def summary(self) -> str:
        return f"{self._expression} (backfills only)"

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        if not restriction.catchup:  # the scheduler asking for tonight's run
            return None
        return super().next_dagrun_info(
            last_automated_data_interval=last_automated_data_interval, restriction=restriction
        )
