"""Nightly scoring: snapshot and models pinned -> features -> score with the pinned champion
-> Delta partition.

Each run covers one day (its data interval) and replaces exactly that day's partition of
the dataset's scores table, so catchup, UI backfills and `airflow backfill create` are
safe to repeat and to run concurrently for different dates. Besides the nightly schedule
(``airflow.score_schedule`` in the dataset's config), a raw-data Asset event (the
dataset's ``nightjar_watch_main`` saw a commit on lakeFS main change a scoring source)
runs it for the date the event names. One DAG per dataset config.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from nightjar.airflow import assets
from nightjar.airflow.dag_defaults import DEFAULT_ARGS, START_DATE, date_param, nightly_or_assets
from nightjar.airflow.dataset_dags import DatasetDags, served_datasets
from nightjar.airflow.links import (
    LakeFSCommitLink,
    MlflowRunLink,
    ModelCardLink,
    RegisteredModelLink,
    with_links,
)
from nightjar.airflow.notifications import date_failed


def score_dag(dataset: DatasetDags) -> None:
    scores = assets.scores(dataset.name)

    @dag(
        dag_id=dataset.dag_id("score"),
        schedule=nightly_or_assets(dataset.score_schedule, assets.raw_data(dataset.name)),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=4,
        # A date that failed after its retries is a notice (``date_failed``).
        default_args={**dataset.default_args(DEFAULT_ARGS), "on_failure_callback": date_failed},
        params={
            "date": date_param("Score this date (YYYY-MM-DD); default: the data interval."),
        },
        tags=dataset.stage_tags("scoring"),
        doc_md=dataset.doc(__doc__),
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

        @task(outlets=[scores])
        def score(inputs: dict, outlet_events=None) -> dict:
            from nightjar.airflow.glue import run_step
            from nightjar.pipeline import score as steps

            result = run_step(steps.score, inputs)
            outlet_events[scores].add_partitions(assets.scored_partitions(result))
            return result

        inputs = with_links(open_snapshot(), LakeFSCommitLink())
        scored = with_links(score(inputs), MlflowRunLink(), RegisteredModelLink(), ModelCardLink())
        build_features(inputs) >> scored

    nightjar_score()


for served in served_datasets():
    score_dag(served)
