"""Reading and checking the OpenLineage events Nightjar's tasks emit."""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema

SCHEMA = Path(__file__).with_name("run_event.schema.json")


# jsonschema checks "date-time" and "uri" only with optional packages; these are enough.
_FORMATS = jsonschema.FormatChecker(["uuid"])


@_FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    return not isinstance(value, str) or dt.datetime.fromisoformat(value).tzinfo is not None


@_FORMATS.checks("uri")
def _uri(value: object) -> bool:
    return not isinstance(value, str) or bool(urlsplit(value).scheme)


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=_FORMATS)


def schema_errors(event: dict) -> list[str]:
    """What in ``event`` breaks the RunEvent schema, one message per breach."""
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in _validator().iter_errors(event)
    ]


def read_events(path: Path) -> list[dict]:
    """The events a file transport appended, one JSON object per line."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def task_events(events: list[dict], dag_id: str, task_id: str) -> list[dict]:
    """The events of one task (job name ``<dag_id>.<task_id>``)."""
    return [e for e in events if e["job"]["name"] == f"{dag_id}.{task_id}"]
