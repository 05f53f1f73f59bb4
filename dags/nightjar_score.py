"""Nightly scoring: snapshot and models pinned -> features -> score with the pinned champion
-> Delta partition.

Each run covers one day (its data interval) and replaces exactly that day's partition of
the scores table, so catchup, UI backfills and `airflow backfill create` are safe to
repeat and to run concurrently for different dates. Besides the nightly schedule, a
RAW_DATA Asset event (``nightjar_watch_main`` saw a commit on lakeFS main change a
scoring source) runs it for the date the event names.
"""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, dag, task

from nightjar.airflow.assets import RAW_DATA, SCORES, scored_partitions
from nightjar.airflow.dag_defaults import DEFAULT_ARGS, START_DATE, date_param, time_or_assets
from nightjar.airflow.links import (
    LakeFSCommitLink,
    MlflowRunLink,
    ModelCardLink,
    RegisteredModelLink,
    with_links,
)


@dag(
    dag_id="nightjar_score",
    schedule=time_or_assets(CronDataIntervalTimetable("0 1 * * *", timezone="UTC"), RAW_DATA),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    params={
        "date": date_param("Score this date (YYYY-MM-DD); default: the data interval."),
    },
    tags=["nightjar", "scoring"],
    doc_md=__doc__,
)
def nightjar_score():
    @task
    def open_snapshot() -> dict:
        from nightjar.airflow.glue import run_step
        from nightjar.pipeline import score as steps

        return run_step(steps.open_snapshot)

    @task
    def build_features(inputs: dict) -> dict:
        from nightjar.airflow.glue import run_step
        from nightjar.pipeline import score as steps

        return run_step(steps.build_features, inputs)

    @task(outlets=[SCORES])
    def score(inputs: dict, outlet_events=None) -> dict:
        from nightjar.airflow.glue import run_step
        from nightjar.pipeline import score as steps

        result = run_step(steps.score, inputs)
        outlet_events[SCORES].add_partitions(scored_partitions(result))
        return result

    inputs = with_links(open_snapshot(), LakeFSCommitLink())
    scored = with_links(score(inputs), MlflowRunLink(), RegisteredModelLink(), ModelCardLink())
    build_features(inputs) >> scored


nightjar_score()
