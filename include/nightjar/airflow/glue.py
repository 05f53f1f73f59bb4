"""The thin adapter between Airflow tasks and the ``nightjar.pipeline`` steps.

A DAG task calls ``run_step(step, ...)`` with the step function of the same name:

- the step gets a ``RunInfo`` built from the task's context;
- the upstream results Airflow hands over as XCom JSON are validated into the step's
  typed parameters (``nightjar.pipeline.contracts``), and its typed result is dumped back
  to JSON, so a contract broken on either side fails the task and names the field;
- the step's lakeFS and MLflow come from Airflow connections when the deployment has them
  (``nightjar.airflow.connections``), else from the environment;
- ``StepSkipped`` becomes a skip (so downstream tasks and Asset events do not fire), and
  bad input or config becomes a failure that is not retried, since retrying cannot fix it.
"""

from __future__ import annotations

import inspect
import logging
import typing
from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter, ValidationError

if typing.TYPE_CHECKING:
    from nightjar.core.notices import Notice
    from nightjar.core.run_info import RunInfo

log = logging.getLogger(__name__)


def run_step(step: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run pipeline ``step`` for the current task's run and return its result as XCom JSON:
    a skip stays a skip, and an error retrying cannot fix fails the task at once."""
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from nightjar.airflow.connections import store_settings
    from nightjar.airflow.lineage import emit_step_lineage
    from nightjar.core import notices
    from nightjar.core.errors import NightjarError
    from nightjar.core.lineage_record import recording
    from nightjar.core.run_info import from_context
    from nightjar.core.settings import from_connections, load_settings
    from nightjar.pipeline.common import StepSkipped

    run = from_context(get_current_context())
    name = step.__name__
    try:
        typed_args = typed_inputs(step, args)
    except ValidationError as error:
        raise AirflowFailException(
            f"{name}: an upstream result breaks its contract: {error}"
        ) from error
    try:
        stores = store_settings(load_settings())
        with (
            from_connections(stores),
            recording() as collected,
            notices.collecting() as noticed,
        ):
            log.info("%s", _what_the_step_reads(name, run))
            try:
                result = step(run, *typed_args, **kwargs)
            finally:
                _send_notices(run, noticed)
    except StepSkipped as skipped:
        # Airflow logs only "Skipping task.": the reason goes in the task's log here.
        log.warning("%s skipped: %s", name, skipped)
        emit_step_lineage(collected)  # a skip may follow a write: a failed gate's record
        raise AirflowSkipException(str(skipped)) from None
    except NightjarError as error:
        if error.retryable:
            raise
        raise AirflowFailException(f"{type(error).__name__}: {error}") from error
    emit_step_lineage(collected)
    try:
        return xcom_json(step, result)
    except ValidationError as error:
        raise AirflowFailException(f"{name}: its result breaks its contract: {error}") from error


def _what_the_step_reads(name: str, run: RunInfo) -> str:
    """One line on what this task reads, before it reads it: its dataset, model, lakeFS
    repository and MLflow store, and whether its process started warm (forked from a
    process that imported Nightjar's stack: ``nightjar.airflow.executor``'s LocalExecutor
    or ``nightjar.airflow.celery_worker``), with the process it was forked from. Tasks of
    many datasets share those workers; this line shows each read its own
    (``tests/scheduler/test_many_datasets.py``)."""
    import os
    import sys

    from nightjar.pipeline.common import step_context

    try:
        settings, config = step_context(run)
    except Exception as error:  # the step reports a broken config, as a failure
        return f"step {name} of dataset {run.dataset}: its config does not load ({error})"
    executor = sys.modules.get("nightjar.airflow.executor")  # imported by what preloads
    start = "warm" if executor is not None and executor.PRELOADED_MODULES else "cold"
    return (
        f"step {name} of dataset {config.name}: model {config.model.name}, lakeFS repository "
        f"{settings.lakefs_repository}, MLflow {_store(settings.mlflow_uri)}; task process "
        f"{os.getpid()} started {start}, forked from {os.getppid()}"
    )


def _store(uri: str) -> str:
    """Where an MLflow store is, without what a URI may carry besides (a user, a password,
    a token in the query): a server's scheme, host and port, or a local store's URI."""
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    if not parts.hostname:
        return uri
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def _send_notices(run: RunInfo, noticed: list[Notice]) -> None:
    """Send what the step noted where its dataset routes it, whatever the step's outcome
    (a failed gate fails the task), each with the run it came from; sending never fails
    the task."""
    if not noticed:
        return
    from dataclasses import replace

    from airflow.sdk import get_current_context

    from nightjar.airflow.notifications import send
    from nightjar.pipeline.common import step_context

    try:
        settings, config = step_context(run)
        origin = {"dataset": config.name, "model_name": config.model.name,
                  "dag_id": run.dag_id, "dag_run_id": run.run_id}  # fmt: skip
        sent = [replace(notice, facts={**origin, **notice.facts}) for notice in noticed]
        send(settings, config, sent, get_current_context())
    except Exception as error:
        log.warning("the step's notices were not sent: %s: %s", type(error).__name__, error)


def has_runs_in_flight(dag_id: str) -> bool:
    """Whether ``dag_id`` has a run queued or running, asked of Airflow through the task's
    own channel (the Task SDK's execution API): a monitoring run raises waiting retrain
    requests again only when no retrain run is about to take them."""
    from airflow.sdk import get_current_context

    ti = get_current_context()["ti"]
    return ti.get_dr_count(dag_id=dag_id, states=["queued", "running"]) > 0


def typed_inputs(step: Callable[..., Any], args: tuple[Any, ...]) -> list[Any]:
    """The positional arguments after ``run``, validated into the step's annotated types
    (an upstream result arrives as the JSON its contract dumped)."""
    hints = typing.get_type_hints(step)
    names = list(inspect.signature(step).parameters)[1 : 1 + len(args)]
    return [
        TypeAdapter(hints[name]).validate_python(arg) for name, arg in zip(names, args, strict=True)
    ]


def xcom_json(step: Callable[..., Any], result: Any) -> Any:
    """The step's result as JSON, by its declared return type."""
    return TypeAdapter(typing.get_type_hints(step)["return"]).dump_python(result, mode="json")
