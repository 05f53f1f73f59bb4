"""Validation of every user-supplied name or date before it reaches a path, branch or SQL.

lakeFS rules come from its API: branch ``^\\w[-\\w]*$``, repository
``^[a-z0-9][a-z0-9-]{2,62}$``. SQL identifiers are deliberately stricter than SQL itself.
"""

from __future__ import annotations

import datetime as dt
import re

from nightjar.core.errors import InvalidNameError

_BRANCH = re.compile(r"^\w[-\w]*$", re.ASCII)
_REPOSITORY = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_HOST_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_UNSAFE_BRANCH_CHARS = re.compile(r"[^\w-]+", re.ASCII)
MAX_BRANCH_LENGTH = 128


def validate_identifier(name: str, *, what: str = "identifier") -> str:
    """``name`` if it is safe as a table or column name in SQL and paths; InvalidNameError
    otherwise."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise InvalidNameError(
            f"invalid {what} {name!r}: use letters, digits and '_', starting with a letter or "
            "'_', at most 63 characters"
        )
    return name


def validate_branch(name: str) -> str:
    """``name`` if it is a valid lakeFS branch name; InvalidNameError otherwise."""
    if not isinstance(name, str) or not _BRANCH.match(name) or len(name) > MAX_BRANCH_LENGTH:
        raise InvalidNameError(
            f"invalid lakeFS branch name {name!r}: use letters, digits, '_' and '-', "
            f"not starting with '-', at most {MAX_BRANCH_LENGTH} characters"
        )
    return name


def validate_host_label(name: str, *, what: str = "host name") -> str:
    """``name`` if it is one label of a host name (RFC 1123: what Celery and Airflow show
    as a worker's host); InvalidNameError otherwise."""
    if not isinstance(name, str) or not _HOST_LABEL.match(name):
        raise InvalidNameError(
            f"invalid {what} {name!r}: 1-63 letters, digits or '-', not starting or ending with '-'"
        )
    return name


def validate_repository(name: str) -> str:
    """``name`` if it is a valid lakeFS repository name; InvalidNameError otherwise."""
    if not isinstance(name, str) or not _REPOSITORY.match(name):
        raise InvalidNameError(
            f"invalid lakeFS repository name {name!r}: 3-63 lowercase letters, digits or '-', "
            "starting with a letter or digit"
        )
    return name


def parse_date(value: str | dt.date) -> dt.date:
    """A calendar date from ``YYYY-MM-DD`` (or a date), rejecting anything else."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise InvalidNameError(f"invalid date {value!r}: expected YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidNameError(f"invalid date {value!r}: {exc}") from exc


def run_branch_name(dag_id: str, run_id: str) -> str:
    """A valid, stable lakeFS branch name for one DAG run.

    Airflow run ids contain ``:``, ``+`` and ``.`` (``scheduled__2026-01-01T00:00:00+00:00``),
    which lakeFS refuses, so they are folded to ``-``. A short hash of the raw pair keeps two
    run ids that fold to the same text apart.
    """
    import hashlib

    digest = hashlib.sha256(f"{dag_id}\0{run_id}".encode()).hexdigest()[:8]
    folded = _UNSAFE_BRANCH_CHARS.sub("-", f"{dag_id}-{run_id}").strip("-_")
    folded = folded[: MAX_BRANCH_LENGTH - len("run--") - len(digest)]
    return validate_branch(f"run-{folded}-{digest}")
