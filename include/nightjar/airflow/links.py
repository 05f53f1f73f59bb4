"""Extra links on Nightjar's tasks: from a task instance to what it produced or used.

Airflow 3 computes a task's links when the task finishes, in the worker, and stores the
URLs; the UI only reads them. Each link here is built from the task's own return value
(the MLflow run it logged, the lakeFS commit it pinned, the report it wrote), so a link
is never guessed. Imported at DAG parse time: it imports nothing heavy at module level.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from airflow.sdk import BaseOperatorLink
from pydantic import ValidationError

from nightjar.pipeline.contracts import (
    Contract,
    DriftReportRef,
    LakeFSCommitRef,
    MlflowRunRef,
    ModelVersionRef,
)

if TYPE_CHECKING:
    from nightjar.core.settings import Settings

log = logging.getLogger(__name__)
PAGE = "/nightjar"
Ref = TypeVar("Ref", bound=Contract)


def _result(ti: Any, contract: type[Ref]) -> Ref | None:
    """The fields ``contract`` declares, read from the task's return value (links are
    computed in the worker right after it is pushed); None when the task returned nothing
    to link, such as a skip."""
    if not hasattr(ti, "xcom_pull"):
        return None
    value = ti.xcom_pull(task_ids=ti.task_id, key="return_value")
    if not isinstance(value, dict):
        return None
    try:
        return contract.model_validate({name: value.get(name) for name in contract.model_fields})
    except ValidationError as error:
        log.warning("no %s link: the result of %s lacks %s", contract.__name__, ti.task_id, error)
        return None


def _dataset_page(ti: Any) -> str:
    """The Nightjar page of the dataset whose DAG the task belongs to."""
    from nightjar.core.run_info import dataset_of

    return f"{PAGE}/datasets/{dataset_of(str(getattr(ti, 'dag_id', '')))}"


def _settings():
    from nightjar.core.settings import load_settings

    return load_settings()


def mlflow_run_url(settings: Settings, run_id: str) -> str:
    """A run's page in the MLflow UI."""
    return f"{settings.mlflow_ui_url.rstrip('/')}/#/runs/{run_id}"


def lakefs_commit_url(settings: Settings, repository: str, commit_id: str) -> str:
    """A commit in the lakeFS UI, or in the stand-in's browser on the embedded stack."""
    if base := _lakefs_ui(settings):
        return f"{base}/repositories/{repository}/commits/{commit_id}"
    return f"http://127.0.0.1:{settings.lakefs_standin_port}/browse/{repository}/{commit_id}/"


def lakefs_object_url(settings: Settings, repository: str, ref: str, path: str) -> str:
    """A folder or object at ``ref`` (a branch or a commit) in the lakeFS UI, or in the
    stand-in's browser."""
    if base := _lakefs_ui(settings):
        return f"{base}/repositories/{repository}/objects?ref={ref}&path={path}"
    port = settings.lakefs_standin_port
    return f"http://127.0.0.1:{port}/browse/{repository}/{ref}/?prefix={path}"


def _lakefs_ui(settings: Settings) -> str | None:
    """The lakeFS UI's base URL: ``lakefs_ui_url``, else the endpoint; None on the embedded
    stack. The API server that draws links may know lakeFS only by its UI's URL, when the
    tasks take the endpoint and keys from an Airflow connection."""
    base = settings.lakefs_ui_url or settings.lakefs_endpoint
    return base.rstrip("/") if base else None


class NightjarLink(BaseOperatorLink):
    """A link built from the fields of the task's result that ``contract`` declares; empty
    when the task produced nothing to link (a skip, a failure)."""

    contract: ClassVar[type[Contract]]

    def get_link(self, operator, *, ti_key) -> str:
        """The URL for the task's own result, or "" when it has nothing to link."""
        ref = _result(ti_key, self.contract)
        return self.url(ref, _dataset_page(ti_key)) if ref is not None else ""

    def url(self, ref: Any, page: str) -> str:
        """The URL the link points at, from the typed fields of the task's result;
        ``page``: the task's dataset's page."""
        raise NotImplementedError


class MlflowRunLink(NightjarLink):
    """The MLflow run a training task logged, or a scoring task's model came from."""

    name = "MLflow run"
    contract = MlflowRunRef

    def url(self, ref: MlflowRunRef, page: str) -> str:
        """The run's page in the MLflow UI."""
        return mlflow_run_url(_settings(), ref.run_id)


class RegisteredModelLink(NightjarLink):
    """The registered model version a promotion task produced."""

    name = "Registered model"
    contract = ModelVersionRef

    def url(self, ref: ModelVersionRef, page: str) -> str:
        """The version's page in the MLflow UI."""
        base = _settings().mlflow_ui_url.rstrip("/")
        return f"{base}/#/models/{ref.model_name}/versions/{ref.version}"


class LakeFSCommitLink(NightjarLink):
    """The lakeFS commit a task pinned: the exact data it read."""

    name = "lakeFS commit"
    contract = LakeFSCommitRef

    def url(self, ref: LakeFSCommitRef, page: str) -> str:
        """The commit in the lakeFS UI, or in the stand-in's browser on the embedded stack."""
        return lakefs_commit_url(_settings(), ref.repository, ref.commit_id)


class DriftReportLink(NightjarLink):
    """The drift report a monitoring task wrote, served by the Nightjar page."""

    name = "Drift report"
    contract = DriftReportRef

    def url(self, ref: DriftReportRef, page: str) -> str:
        """The report as the Nightjar page serves it."""
        return f"{page}/reports/{ref.report_html.rsplit('/', 1)[-1]}"


class ModelCardLink(NightjarLink):
    """The model card of the version a task registered or scored with."""

    name = "Model card"
    contract = ModelVersionRef

    def url(self, ref: ModelVersionRef, page: str) -> str:
        """The version's model card on the Nightjar page."""
        return f"{page}/model-card/{ref.version}"


ALL_LINKS = (
    MlflowRunLink(),
    RegisteredModelLink(),
    LakeFSCommitLink(),
    DriftReportLink(),
    ModelCardLink(),
)


def with_links(task_output, *links: NightjarLink):
    """Attach extra links to the operator behind a TaskFlow call's output."""
    task_output.operator.operator_extra_links = list(links)
    return task_output
