"""Extra links on Nightjar's tasks: from a task instance to what it produced or used.

Airflow 3 computes a task's links when the task finishes, in the worker, and stores the
URLs; the UI only reads them. Each link here is built from the task's own return value
(the MLflow run it logged, the lakeFS commit it pinned, the report it wrote), so a link
is never guessed. Imported at DAG parse time: it imports nothing heavy at module level.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink

PAGE = "/nightjar"


def _result(ti: Any) -> dict:
    """The task's return value; links are computed in the worker right after it is pushed."""
    if not hasattr(ti, "xcom_pull"):
        return {}
    value = ti.xcom_pull(task_ids=ti.task_id, key="return_value")
    return value if isinstance(value, dict) else {}


def _settings():
    from nightjar.core.settings import load_settings

    return load_settings()


class MlflowRunLink(BaseOperatorLink):
    """The MLflow run a training task logged."""

    name = "MLflow run"

    def get_link(self, operator, *, ti_key) -> str:
        """The link from the task's own result; empty when the task produced nothing to link."""
        run_id = _result(ti_key).get("run_id")
        if not run_id:
            return ""
        return f"{_settings().mlflow_ui_url.rstrip('/')}/#/runs/{run_id}"


class RegisteredModelLink(BaseOperatorLink):
    """The registered model version a promotion task produced."""

    name = "Registered model"

    def get_link(self, operator, *, ti_key) -> str:
        """The link from the task's own result; empty when the task produced nothing to link."""
        result = _result(ti_key)
        if not result.get("version"):
            return ""
        return (
            f"{_settings().mlflow_ui_url.rstrip('/')}/#/models/{result['model_name']}"
            f"/versions/{result['version']}"
        )


class LakeFSCommitLink(BaseOperatorLink):
    """The lakeFS commit a task pinned: the exact data it read."""

    name = "lakeFS commit"

    def get_link(self, operator, *, ti_key) -> str:
        """The link from the task's own result; empty when the task produced nothing to link."""
        result = _result(ti_key)
        if not result.get("commit_id"):
            return ""
        settings = _settings()
        repo, commit = result["repository"], result["commit_id"]
        if settings.lakefs_endpoint:
            base = (settings.lakefs_ui_url or settings.lakefs_endpoint).rstrip("/")
            return f"{base}/repositories/{repo}/commits/{commit}"
        return f"http://127.0.0.1:{settings.lakefs_standin_port}/browse/{repo}/{commit}/"


class DriftReportLink(BaseOperatorLink):
    """The drift report a monitoring task wrote, served by the Nightjar page."""

    name = "Drift report"

    def get_link(self, operator, *, ti_key) -> str:
        """The link from the task's own result; empty when the task produced nothing to link."""
        report = _result(ti_key).get("report_html")
        if not report:
            return ""
        return f"{PAGE}/reports/{report.rsplit('/', 1)[-1]}"


class ModelCardLink(BaseOperatorLink):
    """The model card of the version a task registered or scored with."""

    name = "Model card"

    def get_link(self, operator, *, ti_key) -> str:
        """The link from the task's own result; empty when the task produced nothing to link."""
        version = _result(ti_key).get("version")
        return f"{PAGE}/model-card/{version}" if version else ""


ALL_LINKS = (
    MlflowRunLink(),
    RegisteredModelLink(),
    LakeFSCommitLink(),
    DriftReportLink(),
    ModelCardLink(),
)


def with_links(task_output, *links: BaseOperatorLink):
    """Attach extra links to the operator behind a TaskFlow call's output."""
    task_output.operator.operator_extra_links = list(links)
    return task_output
