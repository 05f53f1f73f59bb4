"""Monitoring: drift and retrain signals of a scored date, realised performance once
labels land -> loop-guarded retrain request.

Scheduled on the scores Asset's partitions: each scored date gets its own run (or start
one by hand with a date), and runs for different dates go concurrently. The last task
(realised metrics, the loop guard, closing the snapshot) runs in the loop-guard pool, one
at a time per Airflow, so two runs never decide at once. It only succeeds, and so only
emits RETRAIN_REQUEST, when the guard made a request.
"""

from __future__ import annotations

from airflow.sdk import PartitionedAssetTimetable, dag, task

from nightjar.airflow.assets import (
    RETRAIN_REQUEST,
    SCORES,
    requested_partitions,
    retrain_request_event,
)
from nightjar.airflow.dag_defaults import DEFAULT_ARGS, LOOP_GUARD_POOL, START_DATE, date_param
from nightjar.airflow.links import DriftReportLink, LakeFSCommitLink, with_links


@dag(
    dag_id="nightjar_monitor",
    schedule=PartitionedAssetTimetable(assets=SCORES),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    params={
        "date": date_param("Monitor this scored date (YYYY-MM-DD)."),
    },
    tags=["nightjar", "monitoring"],
    doc_md=__doc__,
)
def nightjar_monitor():
    @task
    def measure_drift() -> dict:
        from nightjar.airflow.glue import run_step
        from nightjar.pipeline import monitor as steps

        return run_step(steps.measure_drift)

    @task
    def open_snapshot() -> dict:
        from nightjar.airflow.glue import run_step
        from nightjar.pipeline import monitor as steps

        return run_step(steps.open_snapshot)

    @task(outlets=[RETRAIN_REQUEST], pool=LOOP_GUARD_POOL)
    def request_retrain(snapshot: dict, drift: dict, outlet_events=None) -> dict:
        from nightjar.airflow.glue import run_step
        from nightjar.pipeline import monitor as steps

        request = run_step(steps.request_retrain, snapshot, drift)
        outlet_events[RETRAIN_REQUEST].add_partitions(requested_partitions(request))
        outlet_events[RETRAIN_REQUEST].extra = retrain_request_event(request)
        return request

    snapshot = with_links(open_snapshot(), LakeFSCommitLink())
    drift = with_links(measure_drift(), DriftReportLink())
    request_retrain(snapshot, drift)


nightjar_monitor()
