"""What a command says when it fails: one line naming what was wrong and, where there is
one, the fix. Never a traceback (``nightjar -v`` logs it too, for a bug report).

Nightjar's own errors already say it in one line. The libraries' are translated here by
family: lakeFS's answers (a missing ref, a protected branch, a conflict), MLflow's, the
Airflow API's (httpx), a service that does not answer at all, a bad file, a bad setting.
Anything else is named by its type and first line, as unexpected.
"""

from __future__ import annotations

import contextlib
import json
import re

from nightjar.core.errors import NightjarError

_PARENT_NEEDED = re.compile(r"1-based parent number|requires parent_number", re.I)


def one_line(exc: BaseException) -> str:
    """``exc`` as the line a user reads."""
    if isinstance(exc, NightjarError):
        return str(exc)
    for translate in (_lakefs, _mlflow, _http, _unreachable, _settings, _file):
        if (line := translate(exc)) is not None:
            return line
    return f"unexpected {type(exc).__name__}: {_first_line(exc)} (`nightjar -v ...` logs where)"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or repr(exc)
    return text.splitlines()[0][:300]


def _lakefs_message(exc: BaseException) -> str:
    """The message lakeFS answered with (its body's ``message``), else the SDK's text."""
    body = getattr(exc, "body", None)
    if isinstance(body, bytes | str):
        with contextlib.suppress(ValueError):
            body = json.loads(body)
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    reason = getattr(exc, "reason", None)
    return str(reason or _first_line(exc))


def _lakefs(exc: BaseException) -> str | None:
    import lakefs_sdk
    from lakefs import exceptions as lakefs_errors

    if isinstance(exc, lakefs_sdk.exceptions.ApiException):  # a call the SDK passes through
        try:
            with lakefs_errors.api_exception_handler():
                raise exc
        except lakefs_errors.LakeFSException as translated:
            exc = translated
    if not isinstance(exc, lakefs_errors.LakeFSException):
        return None
    message = _lakefs_message(exc)
    if isinstance(exc, lakefs_errors.NotFoundException):
        return f"lakeFS has no such ref, object or repository: {message}"
    if isinstance(exc, lakefs_errors.ForbiddenException):
        if "protected" in message.lower():
            return (
                f"lakeFS refused: {message}. main changes only through a validated merge: "
                "work on a branch (`nightjar data branch NAME`), then `nightjar data merge NAME`"
            )
        return f"lakeFS refused: {message}"
    if isinstance(exc, lakefs_errors.NotAuthorizedException | lakefs_errors.PermissionException):
        return (
            f"lakeFS rejected the credentials ({message}): check NIGHTJAR_LAKEFS_ACCESS_KEY_ID "
            "and NIGHTJAR_LAKEFS_SECRET_ACCESS_KEY"
        )
    if _PARENT_NEEDED.search(message):
        return f"that is a merge commit ({message}): pass --parent 1 (main's side) or --parent 2"
    return f"lakeFS answered {getattr(exc, 'status_code', '?')}: {message}"


def _mlflow(exc: BaseException) -> str | None:
    from mlflow.exceptions import MlflowException

    if not isinstance(exc, MlflowException):
        return None
    return f"MLflow: {_first_line(exc)}"


def _http(exc: BaseException) -> str | None:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return (
            f"{_where(exc)} did not answer in time ({type(exc).__name__}): it may be busy; "
            "try again"
        )
    if isinstance(exc, httpx.ConnectError):
        return f"cannot reach {_where(exc)}: is it running? ({_first_line(exc)})"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"{_where(exc)} answered {exc.response.status_code}: {exc.response.text[:200]}"
    if isinstance(exc, httpx.HTTPError):
        return f"{_where(exc)}: {type(exc).__name__}: {_first_line(exc)}"
    return None


def _where(exc) -> str:
    try:
        url = exc.request.url
    except (AttributeError, RuntimeError):
        return "the server"
    return f"{url.scheme}://{url.host}:{url.port}"


def _unreachable(exc: BaseException) -> str | None:
    import urllib3

    if isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError):
        return (
            f"a service did not answer: {_first_line(exc)}; is lakeFS up (`nightjar stack "
            "up`, or NIGHTJAR_LAKEFS_ENDPOINT) and MLflow reachable?"
        )
    return None


def _settings(exc: BaseException) -> str | None:
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return None
    problems = "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors()[:3]
    )
    return f"invalid value: {problems}"


def _file(exc: BaseException) -> str | None:
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or _first_line(exc)}"
    return None
