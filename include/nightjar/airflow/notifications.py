"""Sending what a step noted (``core.notices``) through Airflow's notifiers.

Each dataset config's ``notifications`` routes events to an email (the SMTP provider's
``SmtpNotifier`` over an Airflow SMTP connection) or a webhook (``WebhookNotifier``, on
the same ``BaseNotifier``, posting JSON with a Slack-compatible ``text`` field to the URL
an Airflow connection holds). ``NIGHTJAR_GATE_FAILED_WEBHOOK``, the one notification
Nightjar had before, is a route of the failed gate to its URL.

Sending is best effort: a notice tells people about a decision that is already recorded
(the request log, the approval log, MLflow, the page), so a mail server that is down is
a warning in the task log, never a failed task. Connections are read in the task, through
Airflow's secrets backends; a URL is registered with Airflow's secrets masker before it is
used and never logged.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier

from nightjar.core.dataset_config import DatasetConfig, EmailTarget, WebhookTarget
from nightjar.core.notices import Notice
from nightjar.core.settings import Settings

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 10.0


class WebhookNotifier(BaseNotifier):
    """POST ``notice`` as JSON (``text`` for Slack, the facts for machines) to ``url``."""

    def __init__(self, url: str, notice: Notice, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.url = url
        self.notice = notice

    def notify(self, context: Any) -> None:
        import httpx

        if not self.url.startswith(("http://", "https://")):
            raise ValueError("the webhook's URL is not http(s)")
        payload = {
            "text": f"{self.notice.title}\n{self.notice.text}",
            "event": self.notice.kind,
            **self.notice.facts,
        }
        response = httpx.post(self.url, json=payload, timeout=TIMEOUT_SECONDS)
        response.raise_for_status()


def webhook_url(target: WebhookTarget) -> str:
    """The URL the target's Airflow connection holds (``connections.http_url``), masked
    in every log from here on (it holds a token). The ``endpoint`` extra, if any, is the
    path after it."""
    from airflow.sdk import Connection

    from nightjar.airflow.connections import http_url

    connection = Connection.get(target.conn_id)
    base = http_url(connection)
    endpoint = str(connection.extra_dejson.get("endpoint", "")).lstrip("/")
    return _masked(f"{base}/{endpoint}" if endpoint else base)


def _masked(url: str) -> str:
    """``url``, registered with Airflow's secrets masker first."""
    from airflow.sdk.log import mask_secret

    mask_secret(url)
    return url


@dataclass(frozen=True)
class Destination:
    """One place a dataset's notices go: the events it takes and how to build the notifier
    that sends one there."""

    name: str
    events: frozenset[str]
    notifier: Callable[[Notice], BaseNotifier]


def _email(target: EmailTarget) -> Callable[[Notice], BaseNotifier]:
    """Mail through the SMTP provider's notifier, over the target's SMTP connection."""
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    def notifier(notice: Notice) -> BaseNotifier:
        body = f"<p>{html.escape(notice.title)}</p><pre>{html.escape(notice.text)}</pre>"
        return SmtpNotifier(
            to=target.to,
            from_email=target.from_email,
            subject=f"Nightjar: {notice.title}",
            html_content=body,
            smtp_conn_id=target.smtp_conn_id,
        )

    return notifier


def _webhook(target: WebhookTarget) -> Callable[[Notice], BaseNotifier]:
    """A POST to the URL of the target's connection, read when a notice is sent."""
    return lambda notice: WebhookNotifier(webhook_url(target), notice)


def destinations(settings: Settings, config: DatasetConfig) -> list[Destination]:
    """Where the dataset's notices go: the config's routes, and the failed gate to
    ``NIGHTJAR_GATE_FAILED_WEBHOOK`` when it is set."""
    found = [
        Destination(
            f"notifications route {number}",
            frozenset(route.events),
            _email(route.email) if route.email is not None else _webhook(route.webhook),
        )
        for number, route in enumerate(config.notifications, start=1)
    ]
    if settings.gate_failed_webhook is not None:
        url = _masked(settings.gate_failed_webhook.get_secret_value())
        found.append(
            Destination(
                "NIGHTJAR_GATE_FAILED_WEBHOOK",
                frozenset({"gate_failed"}),
                lambda notice: WebhookNotifier(url, notice),
            )
        )
    return found


def send(settings: Settings, config: DatasetConfig, notices: Iterable[Notice], context: Any) -> int:
    """Send each notice to every destination that takes its kind; the number delivered."""
    delivered = 0
    places = destinations(settings, config)
    for notice in notices:
        for destination in places:
            if notice.kind not in destination.events:
                continue
            try:
                destination.notifier(notice).notify(context)
            except Exception as error:  # best effort: the decision is recorded already
                log.warning(
                    "%s: the %s notice was not delivered (%s: %s)",
                    destination.name,
                    notice.kind,
                    type(error).__name__,
                    _without_urls(str(error)),
                )
                continue
            delivered += 1
            log.info("%s: sent the %s notice", destination.name, notice.kind)
    return delivered


def _without_urls(message: str) -> str:
    """An error's first line with any URL in it cut (httpx names the URL it failed on)."""
    import re

    first = message.splitlines()[0] if message else ""
    return re.sub(r"\S+://\S+", "<url>", first)[:200]


def date_failed(context: Any) -> None:
    """A scoring task's ``on_failure_callback`` (Airflow calls it once the task has failed
    after its retries, not on each retry): the ``date_failed`` notice, with the error."""
    from nightjar.core.datasets import load_datasets, settings_for
    from nightjar.core.run_info import from_context
    from nightjar.core.settings import load_settings

    try:
        run = from_context(context)
        settings = load_settings()
        config = load_datasets(settings).one(run.dataset)
        ti = context["ti"]
        error = _failure(context.get("exception"))
        notice = Notice(
            "date_failed",
            f"{config.name}: {run.target_date} failed in {ti.task_id}",
            f"{run.dag_id} {run.run_id}: {ti.task_id} failed after {ti.try_number} "
            f"tries, for {run.target_date}: {error}",
            {
                "dataset": config.name,
                "model_name": config.model.name,
                "date": run.target_date.isoformat(),
                "dag_id": run.dag_id,
                "dag_run_id": run.run_id,
                "task_id": ti.task_id,
                "error": error,
            },
        )
        send(settings_for(settings, config), config, [notice], context)
    except Exception as error:  # best effort, as every notice (the config may be what broke)
        log.warning("no date_failed notice: %s: %s", type(error).__name__, error)


def _failure(error: BaseException | None) -> str:
    """The error's type and first line. None when Airflow failed the task from outside
    (the DAG processor runs the callback of a task whose process was killed or lost its
    heartbeat, with no exception)."""
    if error is None:
        return "the task process ended without an error (killed, or its heartbeat lost)"
    lines = str(error).splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"
