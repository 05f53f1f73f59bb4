"""The one place that builds a lakeFS client, and retries calls when lakeFS is away.

All lakeFS access goes through the official ``lakefs`` SDK. Calls are retried with
exponential backoff on connection failures and 5xx answers only; anything lakeFS
answers on purpose (404, 409, 400...) is final and surfaces as the SDK's exception.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import lakefs
import urllib3
from lakefs.exceptions import ServerException
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from nightjar.core.errors import LakeFSUnavailableError
from nightjar.core.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class LakeFSCredentials:
    """Where lakeFS is and the keys to reach it."""

    endpoint: str
    access_key_id: str
    secret_access_key: str


def resolve_credentials(settings: Settings) -> LakeFSCredentials:
    """Credentials from settings, or from the embedded stand-in's state folder."""
    if settings.lakefs_endpoint:
        if not (settings.lakefs_access_key_id and settings.lakefs_secret_access_key):
            raise LakeFSUnavailableError(
                "NIGHTJAR_LAKEFS_ENDPOINT is set but NIGHTJAR_LAKEFS_ACCESS_KEY_ID or "
                "NIGHTJAR_LAKEFS_SECRET_ACCESS_KEY is missing"
            )
        return LakeFSCredentials(
            endpoint=settings.lakefs_endpoint.rstrip("/"),
            access_key_id=settings.lakefs_access_key_id,
            secret_access_key=settings.lakefs_secret_access_key.get_secret_value(),
        )
    state = settings.standin_dir / "credentials.json"
    if not state.is_file():
        raise LakeFSUnavailableError(
            "no lakeFS configured: set NIGHTJAR_LAKEFS_ENDPOINT (and credentials), or start the "
            f"embedded stack with `nightjar stack up` (expected {state})"
        )
    data = json.loads(state.read_text())
    return LakeFSCredentials(
        endpoint=f"http://127.0.0.1:{settings.lakefs_standin_port}",
        access_key_id=data["access_key_id"],
        secret_access_key=data["secret_access_key"],
    )


def delta_storage_options(settings: Settings) -> dict[str, str]:
    """Options for ``deltalake``'s native ``lakefs://repo/branch/path`` mode: its lakeFS
    backend commits each write on a transaction branch and merges it into the branch."""
    creds = resolve_credentials(settings)
    options = {
        "endpoint": creds.endpoint,
        "access_key_id": creds.access_key_id,
        "secret_access_key": creds.secret_access_key,
    }
    if creds.endpoint.startswith("http://"):
        options["allow_http"] = "true"
    return options


def make_client(settings: Settings) -> lakefs.Client:
    """A lakeFS SDK client built from ``settings``, never from process-global state.

    urllib3's own retries are off (the SDK would retry a refused connection three times,
    silently, inside each of ``call_with_retry``'s attempts): ``call_with_retry`` retries,
    with backoff, ``settings.lakefs_retry_attempts`` times, each retry one log line."""
    creds = resolve_credentials(settings)
    client = lakefs.Client(
        host=creds.endpoint, username=creds.access_key_id, password=creds.secret_access_key
    )
    pools = client.sdk_client.repositories_api.api_client.rest_client.pool_manager
    pools.connection_pool_kw["retries"] = urllib3.util.Retry(total=0, read=False)
    client.retry_attempts = settings.lakefs_retry_attempts  # read by call_with_retry
    return client


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError):
        return True
    return isinstance(exc, ServerException) and getattr(exc, "status_code", 0) >= 500


def _reason(exc: BaseException | None) -> str:
    """A failure in a few words: urllib3's "Max retries exceeded ... Caused by ...: [Errno
    111] Connection refused" as "Connection refused"."""
    if exc is None:
        return "?"
    cause = getattr(exc, "reason", None) or exc
    text = str(cause).rstrip(")\"'")
    return text.rsplit("] ", 1)[-1].rsplit(": ", 1)[-1][:120] or type(exc).__name__


def call_with_retry(
    client: lakefs.Client, fn: Callable[[], T], *, what: str, attempts: int | None = None
) -> T:
    """Run ``fn`` against lakeFS, retrying transient failures with exponential backoff
    (``attempts`` in all; default: the client's ``settings.lakefs_retry_attempts``)."""
    attempts = attempts or getattr(client, "retry_attempts", 5)
    retrying = Retrying(
        retry=retry_if_exception(_is_transient),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=0.5, max=8),
        before_sleep=lambda state: log.warning(
            "lakeFS %s failed (attempt %d/%d: %s); retrying",
            what,
            state.attempt_number,
            attempts,
            _reason(state.outcome.exception()) if state.outcome else "?",
        ),
        reraise=False,
    )
    try:
        return retrying(fn)
    except RetryError as exc:
        cause = exc.last_attempt.exception()
        raise LakeFSUnavailableError(
            f"lakeFS at {client.config.host} unreachable while trying to {what} "
            f"after {attempts} attempt(s) ({_reason(cause)}): is it running? "
            "(`nightjar stack up` for the embedded stand-in, or NIGHTJAR_LAKEFS_ENDPOINT)"
        ) from cause
