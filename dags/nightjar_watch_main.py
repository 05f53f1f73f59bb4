"""Data-aware triggering: a commit on lakeFS main that changes raw scoring data requests a
(re)score of the newest date it changed.

Every 15 minutes (and whenever triggered from the UI, looking back 24 hours), the watcher
lists the commits that reached main in its interval and diffs each against its parent.
If a scoring source changed, it emits the RAW_DATA Asset event with that date, which
schedules ``nightjar_score`` for it; otherwise the task is skipped and nothing is emitted.
"""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, dag, task

from nightjar.airflow.assets import RAW_DATA, raw_data_event
from nightjar.airflow.dag_defaults import DEFAULT_ARGS, START_DATE, time_only
from nightjar.airflow.links import LakeFSCommitLink, with_links


@dag(
    dag_id="nightjar_watch_main",
    schedule=time_only(CronDataIntervalTimetable("*/15 * * * *", timezone="UTC")),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["nightjar", "lakefs"],
    doc_md=__doc__,
)
def nightjar_watch_main():
    @task(outlets=[RAW_DATA])
    def detect_raw_changes(outlet_events=None) -> dict:
        from nightjar.airflow.glue import run_step
        from nightjar.pipeline import watch as steps

        changes = run_step(steps.detect_raw_changes)
        outlet_events[RAW_DATA].extra = raw_data_event(changes)
        return changes

    with_links(detect_raw_changes(), LakeFSCommitLink())


nightjar_watch_main()
