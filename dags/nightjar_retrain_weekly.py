"""The weekly retrain: on the dataset's ``airflow.retrain_schedule`` (default Sundays at
04:00 UTC), request a retrain as of that date.

It only emits the dataset's retrain-request Asset's partition for its date;
``nightjar_retrain`` trains, and declines when a model of nearly the same data exists
(``model.retrain_cooldown_days``). With ``NIGHTJAR_TIME_SCHEDULES`` off it has no
schedule. One DAG per dataset config.
"""

from __future__ import annotations

from airflow.sdk import CronPartitionTimetable, dag, task

from nightjar.airflow import assets
from nightjar.airflow.dag_defaults import DEFAULT_ARGS, START_DATE, time_only
from nightjar.airflow.dataset_dags import DatasetDags, served_datasets


def retrain_weekly_dag(dataset: DatasetDags) -> None:
    retrain_request = assets.retrain_request(dataset.name)

    @dag(
        dag_id=dataset.dag_id("retrain_weekly"),
        schedule=time_only(
            CronPartitionTimetable(dataset.retrain_schedule, timezone="UTC", key_format="%Y-%m-%d")
        ),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=dataset.default_args(DEFAULT_ARGS),
        tags=dataset.stage_tags("training"),
        doc_md=dataset.doc(__doc__),
    )
    def nightjar_retrain_weekly():
        @task(outlets=[retrain_request])
        def request_weekly_retrain(outlet_events=None) -> str:
            from nightjar.airflow.glue import run_step
            from nightjar.pipeline import retrain as steps

            day = run_step(steps.request_weekly_retrain)
            outlet_events[retrain_request].add_partitions([day])
            outlet_events[retrain_request].extra = {"date": day, "requested_by": "schedule"}
            return day

        request_weekly_retrain()

    nightjar_retrain_weekly()


for served in served_datasets():
    retrain_weekly_dag(served)
