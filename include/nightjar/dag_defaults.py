"""What every Nightjar DAG shares: owner, retries, start date and the ``date`` param.

Imported by DAG files at parse time, so it imports nothing but ``airflow.sdk``.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param

START_DATE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DEFAULT_ARGS = {"owner": "nightjar", "retries": 2, "retry_delay": dt.timedelta(minutes=2)}


def date_param(description: str) -> Param:
    """The optional ``date`` (YYYY-MM-DD) a manual run or the demo passes in conf."""
    return Param(None, type=["null", "string"], format="date", description=description)
