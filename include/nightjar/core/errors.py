"""Every error Nightjar raises on purpose, under one base.

Each message says what happened and what to do. The CLI prints a ``NightjarError`` as one
line instead of a traceback; a task that raises one fails at once, without Airflow's
retries, unless the class is ``retryable`` (a service that may come back). Errors from
libraries (a lost connection, a full disk) are not wrapped: those are what retries are for.
"""

from __future__ import annotations

from typing import ClassVar


class NightjarError(Exception):
    """Base of Nightjar's errors. ``retryable``: whether running the task again can help."""

    retryable: ClassVar[bool] = False


class ConfigError(NightjarError, ValueError):
    """A dataset or policy config that cannot be used; the message names field and problem."""


class InvalidNameError(NightjarError, ValueError):
    """A name or date that is not safe to use; the message says which rule it broke."""


class DataValidationError(NightjarError, ValueError):
    """A batch that must not go further; the message names the column, rule and count."""


class TrainingDataError(NightjarError, ValueError):
    """The training set cannot produce a meaningful model; the message says why."""


class MissingInputError(NightjarError, LookupError):
    """A step's input does not exist yet (no champion, no features for the date...).

    Retrying the same step cannot fix it: an earlier step or DAG has to run first, and the
    message says which.
    """


class GateFailedError(NightjarError):
    """A challenger failed the evaluation gate: its retrain run ends failed, not green, and
    the message lists the failing checks. Retrying retrains nothing new: the same data and
    seed give the same model."""


class RegistryError(NightjarError, RuntimeError):
    """A registry operation that cannot be done; the message says why."""


class SparkUnavailableError(NightjarError, RuntimeError):
    """Spark cannot start here; the message says what is missing."""


class LakeFSUnavailableError(NightjarError, RuntimeError):
    """lakeFS could not be reached after retries; the message names the endpoint."""

    retryable = True


class StackError(NightjarError, RuntimeError):
    """The embedded stack cannot start; the message says what to do."""


class AirflowAPIError(NightjarError, RuntimeError):
    """Airflow answered with an error, or a run did not finish in time."""

    retryable = True


class DagRunFailedError(NightjarError, RuntimeError):
    """A DAG run that Nightjar started did not succeed; its task logs say why."""
