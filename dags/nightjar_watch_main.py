"""Data-aware triggering: a commit on lakeFS main that changes the dataset's raw scoring
data requests a (re)score of the newest date it changed.

Every 15 minutes (and whenever triggered from the UI, looking back 24 hours), the watcher
lists the commits that reached main in its interval and diffs each against its parent.
If one of the dataset's scoring sources changed, it emits the dataset's raw-data Asset
event with that date, which schedules its ``nightjar_score`` for it; otherwise the task
is skipped and nothing is emitted. One DAG per dataset config.
"""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, dag, task

from nightjar.airflow import assets
from nightjar.airflow.dag_defaults import DEFAULT_ARGS, START_DATE, time_only
from nightjar.airflow.dataset_dags import DatasetDags, served_datasets
from nightjar.airflow.links import LakeFSCommitLink, with_links


def watch_main_dag(dataset: DatasetDags) -> None:
    raw_data = assets.raw_data(dataset.name)

    @dag(
        dag_id=dataset.dag_id("watch_main"),
        schedule=time_only(CronDataIntervalTimetable("*/15 * * * *", timezone="UTC")),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=dataset.default_args(DEFAULT_ARGS),
        tags=dataset.stage_tags("lakefs"),
        doc_md=dataset.doc(__doc__),
    )
    def nightjar_watch_main():
        @task(outlets=[raw_data])
        def detect_raw_changes(outlet_events=None) -> dict:
            from nightjar.airflow.glue import run_step
            from nightjar.pipeline import watch as steps

            changes = run_step(steps.detect_raw_changes)
            outlet_events[raw_data].extra = assets.raw_data_event(changes)
            return changes

        with_links(detect_raw_changes(), LakeFSCommitLink())

    nightjar_watch_main()


for served in served_datasets():
    watch_main_dag(served)
