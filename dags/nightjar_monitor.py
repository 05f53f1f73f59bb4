"""Monitoring: drift and retrain signals of a scored date, realised performance once
labels land -> loop-guarded retrain request.

Scheduled on the dataset's scores Asset's partitions: each scored date gets its own run
(or start one by hand with a date), and runs for different dates go concurrently. The
last task (realised metrics, the loop guard, closing the snapshot) runs in the dataset's
loop-guard pool, one at a time, so two runs never decide at once. It only succeeds, and
so only emits the retrain-request Asset, when the guard made a request. One DAG per
dataset config.
"""

from __future__ import annotations

from airflow.sdk import PartitionedAssetTimetable, dag, task

from nightjar.airflow import assets
from nightjar.airflow.dag_defaults import DEFAULT_ARGS, START_DATE, date_param
from nightjar.airflow.dataset_dags import DatasetDags, served_datasets
from nightjar.airflow.links import DriftReportLink, LakeFSCommitLink, with_links


def monitor_dag(dataset: DatasetDags) -> None:
    retrain_request = assets.retrain_request(dataset.name)

    @dag(
        dag_id=dataset.dag_id("monitor"),
        schedule=PartitionedAssetTimetable(assets=assets.scores(dataset.name)),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=4,
        default_args=dataset.default_args(DEFAULT_ARGS),
        params={
            "date": date_param("Monitor this scored date (YYYY-MM-DD)."),
        },
        tags=dataset.stage_tags("monitoring"),
        doc_md=dataset.doc(__doc__),
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

        @task(outlets=[retrain_request], pool=dataset.loop_guard_pool)
        def request_retrain(snapshot: dict, drift: dict, outlet_events=None) -> dict:
            from nightjar.airflow.glue import has_runs_in_flight, run_step
            from nightjar.pipeline import monitor as steps

            retraining = has_runs_in_flight(dataset.dag_id("retrain"))
            request = run_step(steps.request_retrain, snapshot, drift, raise_waiting=not retraining)
            outlet_events[retrain_request].add_partitions(assets.requested_partitions(request))
            outlet_events[retrain_request].extra = assets.retrain_request_event(request)
            return request

        snapshot = with_links(open_snapshot(), LakeFSCommitLink())
        drift = with_links(measure_drift(), DriftReportLink())
        request_retrain(snapshot, drift)

    nightjar_monitor()


for served in served_datasets():
    monitor_dag(served)
