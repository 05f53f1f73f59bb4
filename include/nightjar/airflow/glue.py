"""The thin adapter between Airflow tasks and ``nightjar.pipeline`` steps.

A DAG task calls ``run_step("name", ...)``: the step gets a ``RunInfo`` built from the
task's context, ``StepSkipped`` becomes a skip (so downstream tasks and Asset events do
not fire), and bad input or config becomes a failure that is not retried, since retrying
cannot fix it.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def run_step(step: str, *args: Any, **kwargs: Any) -> Any:
    """Run pipeline step ``step`` for the current task's run: a skip stays a skip, and an error
    retrying cannot fix fails the task at once."""
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from nightjar import pipeline
    from nightjar.core.errors import NightjarError
    from nightjar.core.run_info import from_context

    run = from_context(get_current_context())
    try:
        return getattr(pipeline, step)(run, *args, **kwargs)
    except pipeline.StepSkipped as skipped:
        # Airflow logs only "Skipping task.": the reason goes in the task's log here.
        log.warning("%s skipped: %s", step, skipped)
        raise AirflowSkipException(str(skipped)) from None
    except NightjarError as error:
        if error.retryable:
            raise
        raise AirflowFailException(f"{type(error).__name__}: {error}") from error
