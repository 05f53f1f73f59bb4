"""Retraining: snapshot -> features -> train -> evaluation gate -> register and promote.

Scheduled on the dataset's retrain-request Asset's partitions: each requested date gets
its own run, which trains as of that date. Monitoring's loop guard requests one when a
night's signals call for it; the dataset's ``nightjar_retrain_weekly`` requests the
weekly one; or trigger it by hand with a date. The guard step keeps them from training
twice on the same data, and records in the request log that the run took its request.
One DAG per dataset config.
"""

from __future__ import annotations

from airflow.sdk import Param, PartitionedAssetTimetable, dag, task

from nightjar.airflow import assets
from nightjar.airflow.dag_defaults import DEFAULT_ARGS, START_DATE, date_param
from nightjar.airflow.dataset_dags import DatasetDags, served_datasets
from nightjar.airflow.links import (
    LakeFSCommitLink,
    MlflowRunLink,
    ModelCardLink,
    RegisteredModelLink,
    with_links,
)


def retrain_dag(dataset: DatasetDags) -> None:
    champion = assets.champion(dataset.name)

    @dag(
        dag_id=dataset.dag_id("retrain"),
        schedule=PartitionedAssetTimetable(assets=assets.retrain_request(dataset.name)),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=dataset.default_args(DEFAULT_ARGS),
        params={
            "date": date_param("Train as of this date (YYYY-MM-DD); default: the run's date."),
            "force": Param(False, type="boolean", description="Retrain even inside the cooldown."),
            "intent": Param("scheduled retrain", type="string", description="Why this run trains."),
        },
        tags=dataset.stage_tags("training"),
        doc_md=dataset.doc(__doc__),
    )
    def nightjar_retrain():
        @task
        def guard(params=None) -> dict:
            from nightjar.airflow.glue import run_step
            from nightjar.pipeline import retrain as steps

            return run_step(steps.guard, force=bool(params["force"]))

        @task
        def open_snapshot() -> dict:
            from nightjar.airflow.glue import run_step
            from nightjar.pipeline import retrain as steps

            return run_step(steps.open_snapshot)

        @task
        def build_features(snapshot: dict) -> dict:
            from nightjar.airflow.glue import run_step
            from nightjar.pipeline import retrain as steps

            return run_step(steps.build_features, snapshot)

        @task
        def train(snapshot: dict, features: dict, params=None) -> dict:
            from nightjar.airflow.glue import run_step
            from nightjar.pipeline import retrain as steps

            return run_step(steps.train, snapshot, features, intent=params["intent"])

        @task
        def evaluate_gate(trained: dict, snapshot: dict) -> dict:
            from nightjar.airflow.glue import run_step
            from nightjar.pipeline import retrain as steps

            return run_step(steps.evaluate_gate, trained, snapshot)

        @task(outlets=[champion])
        def register_and_promote(trained: dict, decision: dict) -> dict:
            from nightjar.airflow.glue import run_step
            from nightjar.pipeline import retrain as steps

            return run_step(steps.register_and_promote, trained, decision)

        @task(trigger_rule="none_failed")
        def close_snapshot(snapshot: dict) -> None:
            from nightjar.airflow.glue import run_step
            from nightjar.pipeline import retrain as steps

            run_step(steps.close_snapshot, snapshot)

        snapshot = with_links(open_snapshot(), LakeFSCommitLink())
        guard() >> snapshot
        features = build_features(snapshot)
        trained = with_links(train(snapshot, features), MlflowRunLink())
        decision = evaluate_gate(trained, snapshot)
        promoted = with_links(
            register_and_promote(trained, decision), RegisteredModelLink(), ModelCardLink()
        )
        promoted >> close_snapshot(snapshot)

    nightjar_retrain()


for served in served_datasets():
    retrain_dag(served)
