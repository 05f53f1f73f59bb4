"""The weekly retrain: every Sunday, request a retrain as of that date.

It only emits the retrain-request Asset's partition for its date; ``nightjar_retrain``
trains, and declines when a model of nearly the same data exists
(``model.retrain_cooldown_days``). With ``NIGHTJAR_TIME_SCHEDULES`` off it has no schedule.
"""

from __future__ import annotations

from airflow.sdk import CronPartitionTimetable, dag, task

from nightjar.airflow.assets import RETRAIN_REQUEST
from nightjar.airflow.dag_defaults import DEFAULT_ARGS, START_DATE, time_only


@dag(
    dag_id="nightjar_retrain_weekly",
    schedule=time_only(CronPartitionTimetable("0 4 * * 0", timezone="UTC", key_format="%Y-%m-%d")),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["nightjar", "training"],
    doc_md=__doc__,
)
def nightjar_retrain_weekly():
    @task(outlets=[RETRAIN_REQUEST])
    def request_weekly_retrain(outlet_events=None) -> str:
        from nightjar.airflow.glue import run_step
        from nightjar.pipeline import retrain as steps

        day = run_step(steps.request_weekly_retrain)
        outlet_events[RETRAIN_REQUEST].add_partitions([day])
        outlet_events[RETRAIN_REQUEST].extra = {"date": day, "requested_by": "schedule"}
        return day

    request_weekly_retrain()


nightjar_retrain_weekly()
