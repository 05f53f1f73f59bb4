"""Typed step contracts: every task runs the pipeline step of its own name, every link reads
a field its task's result declares, and a result that breaks its contract fails loudly."""

import datetime as dt
import typing
from pathlib import Path

import pytest
from pydantic import ValidationError

from nightjar.airflow.glue import typed_inputs, xcom_json
from nightjar.airflow.links import (
    DriftReportLink,
    LakeFSCommitLink,
    MlflowRunLink,
    ModelCardLink,
    _result,
)
from nightjar.core.vocabulary import dag_id
from nightjar.pipeline import monitor, retrain, score, watch
from nightjar.pipeline.contracts import NightScores, ScoredNights, ScoringInputs, SnapshotRef

DAGS = Path(__file__).parents[3] / "dags"
STEPS = {  # the packaged dataset's DAGs
    dag_id("retrain", "credit_default"): retrain,
    dag_id("retrain_weekly", "credit_default"): retrain,
    dag_id("score", "credit_default"): score,
    dag_id("monitor", "credit_default"): monitor,
    dag_id("watch_main", "credit_default"): watch,
}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def _tasks(dagbag):
    for dag, module in STEPS.items():
        for task in dagbag.dags[dag].tasks:
            yield dag, task, getattr(module, task.task_id, None)


def test_every_task_runs_the_step_of_its_own_name(dagbag):
    missing = [f"{dag_id}.{task.task_id}" for dag_id, task, step in _tasks(dagbag) if not step]
    assert missing == []


def test_every_link_reads_fields_that_its_tasks_result_declares(dagbag):
    checked = 0
    for dag, task, step in _tasks(dagbag):
        returns = typing.get_type_hints(step)["return"]
        for link in task.operator_extra_links:
            assert isinstance(returns, type) and issubclass(returns, link.contract), (
                f"{dag}.{task.task_id} returns {returns}, which lacks {link.contract.__name__} "
                f"for its {link.name!r} link"
            )
            checked += 1
    assert checked >= 8


def _night(day: dt.date) -> NightScores:
    return NightScores(
        score_date=day, rows={"champion": 10}, model_name="m", version="3", run_id="abc"
    )


def test_a_result_crosses_xcom_as_json_and_comes_back_typed():
    nights = [_night(dt.date(2026, 3, 1)), _night(dt.date(2026, 3, 2))]
    scored = ScoredNights(**nights[-1].model_dump(), dates=nights)
    as_json = xcom_json(score.score, scored)
    assert as_json["score_date"] == "2026-03-02" and as_json["version"] == "3"
    assert [night["score_date"] for night in as_json["dates"]] == ["2026-03-01", "2026-03-02"]
    champion = {"name": "m", "version": "3", "run_id": "abc", "alias": "champion"}
    inputs = {"repository": "r", "branch": "b", "commit_id": "c", "models": {"champion": champion}}
    assert typed_inputs(score.build_features, (inputs,)) == [ScoringInputs(**inputs)]
    snapshot = {"repository": "r", "branch": "b", "commit_id": "c"}
    assert typed_inputs(retrain.close_snapshot, (None,)) == [None]  # open_snapshot was skipped
    assert typed_inputs(retrain.close_snapshot, (snapshot,)) == [SnapshotRef(**snapshot)]


def test_a_renamed_field_fails_the_next_task_and_names_the_field():
    renamed = {"repository": "r", "branch": "b", "commit": "c"}
    with pytest.raises(ValidationError, match="commit_id"):
        typed_inputs(score.build_features, (renamed,))


class _TaskInstance:
    task_id = "score"
    dag_id = "nightjar_score__credit_default"

    def __init__(self, value):
        self.value = value

    def xcom_pull(self, task_ids, key):
        return self.value


def test_links_read_the_typed_fields_and_stay_empty_without_them(monkeypatch):
    monkeypatch.setenv("NIGHTJAR_MLFLOW_UI_URL", "http://mlflow")
    scored = xcom_json(score.score, ScoredNights(**_night(dt.date(2026, 3, 1)).model_dump(),
                                                 dates=[]))  # fmt: skip
    ti = _TaskInstance(scored)
    assert MlflowRunLink().get_link(None, ti_key=ti) == "http://mlflow/#/runs/abc"
    assert (
        ModelCardLink().get_link(None, ti_key=ti)
        == "/nightjar/datasets/credit_default/model-card/3"
    )
    assert LakeFSCommitLink().get_link(None, ti_key=ti) == ""  # scoring pins no commit
    assert DriftReportLink().get_link(None, ti_key=_TaskInstance(None)) == ""  # skipped
    assert _result(_TaskInstance({"run_id": 5}), MlflowRunLink.contract) is None  # not a str


def test_a_steps_first_line_names_its_dataset_model_and_stores_and_no_secret():
    """What ``run_step`` logs before a step reads anything: the dataset's own config, model
    and lakeFS repository, the MLflow store without what its URI may carry besides, and
    how the task process started (here, a test process: cold)."""
    from nightjar.airflow.glue import _store, _what_the_step_reads
    from nightjar.core.run_info import RunInfo

    run = RunInfo(
        dag_id=dag_id("score", "credit_default"),
        run_id="manual__2026-03-01",
        logical_date="2026-03-01T00:00:00+00:00",
        target_date=dt.date(2026, 3, 1),
        interval_end=dt.datetime(2026, 3, 2, tzinfo=dt.UTC),
    )
    line = _what_the_step_reads("score", run)
    assert line.startswith("step score of dataset credit_default: model credit_default, ")
    assert "lakeFS repository nightjar" in line and "started cold, forked from" in line
    from nightjar.airflow import executor

    with pytest.MonkeyPatch.context() as patch:  # as in a process forked after a preload
        patch.setattr(executor, "PRELOADED_MODULES", 38)
        assert "started warm, forked from" in _what_the_step_reads("score", run)
    assert _store("http://ops:s3cret@mlflow.internal:5000/api?token=t0k") == (
        "http://mlflow.internal:5000"
    )
    assert _store("sqlite:////srv/nightjar/mlflow.db") == "sqlite:////srv/nightjar/mlflow.db"
