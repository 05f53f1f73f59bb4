"""Retraining: snapshot -> features -> train -> evaluation gate -> register and promote.

Runs weekly, and whenever monitoring requests a retrain (the RETRAIN_REQUEST Asset);
the guard step keeps the two from training twice on the same data.
"""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, Param, dag, task

from nightjar.airflow.assets import CHAMPION, RETRAIN_REQUEST
from nightjar.airflow.dag_defaults import DEFAULT_ARGS, START_DATE, date_param, time_or_assets
from nightjar.airflow.links import (
    LakeFSCommitLink,
    MlflowRunLink,
    ModelCardLink,
    RegisteredModelLink,
    with_links,
)


@dag(
    dag_id="nightjar_retrain",
    schedule=time_or_assets(CronTriggerTimetable("0 4 * * 0", timezone="UTC"), RETRAIN_REQUEST),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={
        "date": date_param("Train as of this date (YYYY-MM-DD); default: the run's date."),
        "force": Param(False, type="boolean", description="Retrain even inside the cooldown."),
        "intent": Param("scheduled retrain", type="string", description="Why this run trains."),
    },
    tags=["nightjar", "training"],
    doc_md=__doc__,
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
    def evaluate_gate(trained: dict) -> dict:
        from nightjar.airflow.glue import run_step
        from nightjar.pipeline import retrain as steps

        return run_step(steps.evaluate_gate, trained)

    @task(outlets=[CHAMPION])
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
    decision = evaluate_gate(trained)
    promoted = with_links(
        register_and_promote(trained, decision), RegisteredModelLink(), ModelCardLink()
    )
    promoted >> close_snapshot(snapshot)


nightjar_retrain()
