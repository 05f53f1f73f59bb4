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
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from nightjar import pipeline
    from nightjar.dataset_config import ConfigError
    from nightjar.errors import MissingInputError
    from nightjar.names import InvalidNameError
    from nightjar.run_info import from_context
    from nightjar.training import TrainingDataError
    from nightjar.validation import DataValidationError

    run = from_context(get_current_context())
    try:
        return getattr(pipeline, step)(run, *args, **kwargs)
    except pipeline.StepSkipped as skipped:
        # Airflow logs only "Skipping task.": the reason goes in the task's log here.
        log.warning("%s skipped: %s", step, skipped)
        raise AirflowSkipException(str(skipped)) from None
    except (
        ConfigError,
        DataValidationError,
        InvalidNameError,
        MissingInputError,
        TrainingDataError,
    ) as bad_input:
        raise AirflowFailException(f"{type(bad_input).__name__}: {bad_input}") from bad_input
