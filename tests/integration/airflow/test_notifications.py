"""Notices reach people through Airflow's notifiers: a real SMTP server (aiosmtpd) and a
real HTTP server on 127.0.0.1 receive what the dataset config routes to them, over
Airflow connections read through its secrets backends (here, ``AIRFLOW_CONN_*``)."""

import json
import logging

import pytest
from pydantic import ValidationError

from nightjar.airflow import notifications
from nightjar.core.dataset_config import NotificationRoute, WebhookTarget
from nightjar.core.notices import Notice
from nightjar.core.settings import Settings
from tests.notice_servers import http_recorder, smtp_inbox

GATE_FAILED = Notice(
    "gate_failed",
    "credit_default: a credit_default challenger failed the gate",
    "nightjar_retrain__credit_default manual__1 (MLflow run abc):\n"
    "FAILED min_primary_metric: 0.61 vs 0.65",
    {"mlflow_run_id": "abc"},
)
REQUESTED = Notice("retrain_requested", "a retrain is requested", "as of 2026-03-05", {})


@pytest.fixture
def smtp_server(monkeypatch):
    with smtp_inbox() as inbox:
        monkeypatch.setenv("AIRFLOW_CONN_NIGHTJAR_TEST_SMTP", inbox.connection)
        yield inbox


@pytest.fixture
def http_server(monkeypatch):
    with http_recorder() as recorder:
        monkeypatch.setenv("AIRFLOW_CONN_NIGHTJAR_TEST_HOOK", recorder.connection)
        yield recorder.posts


def _routed(config, routes: list[dict]):
    """The dataset's config with these ``notifications`` routes."""
    return config.model_copy(
        update={"notifications": [NotificationRoute.model_validate(r) for r in routes]}
    )


ROUTES = [
    {"events": ["gate_failed", "date_failed"],
     "email": {"to": ["ops@example.com"], "smtp_conn_id": "nightjar_test_smtp"}},
    {"events": ["gate_failed", "retrain_requested"], "webhook": {"conn_id": "nightjar_test_hook"}},
]  # fmt: skip


def test_each_notice_goes_where_its_route_sends_its_kind(
    settings, config, smtp_server, http_server
):
    routed = _routed(config, ROUTES)
    delivered = notifications.send(settings, routed, [GATE_FAILED, REQUESTED], context={})
    assert delivered == 3  # the gate to both, the request to the webhook only
    (mail,) = smtp_server.messages
    assert mail["To"] == "ops@example.com"
    assert mail["Subject"] == f"Nightjar: {GATE_FAILED.title}"
    assert "min_primary_metric: 0.61 vs 0.65" in mail.get_body(("html",)).get_content()
    paths = [path for path, _ in http_server]
    assert paths == ["/hooks/T0KEN", "/hooks/T0KEN"]
    gate, request = (payload for _, payload in http_server)
    assert gate["event"] == "gate_failed" and gate["mlflow_run_id"] == "abc"
    assert gate["text"].startswith(GATE_FAILED.title) and "min_primary_metric" in gate["text"]
    assert request["event"] == "retrain_requested"


def test_the_gate_failed_webhook_setting_is_a_route_of_the_failed_gate(
    settings, config, http_server
):
    url = notifications.webhook_url(WebhookTarget(conn_id="nightjar_test_hook"))
    hooked = Settings(home=settings.home_dir, gate_failed_webhook=url)
    assert notifications.send(hooked, config, [GATE_FAILED, REQUESTED], context={}) == 1
    ((path, payload),) = http_server
    assert path == "/hooks/T0KEN" and payload["event"] == "gate_failed"


def test_an_unreachable_destination_is_a_warning_without_its_url(
    settings, config, caplog, monkeypatch
):
    """Best effort: the decision is recorded already, so a server that is down costs a
    warning line, and the line does not carry the URL (it holds a token)."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_NIGHTJAR_TEST_HOOK",
        json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": 9,
                    "extra": {"endpoint": "/hooks/T0KEN"}}),
    )  # fmt: skip
    routed = _routed(config, ROUTES[1:])
    with caplog.at_level(logging.WARNING, logger="nightjar.airflow.notifications"):
        assert notifications.send(settings, routed, [GATE_FAILED], context={}) == 0
    (line,) = [r.getMessage() for r in caplog.records]
    assert "route 1: the gate_failed notice was not delivered (ConnectError" in line
    assert "T0KEN" not in line


def test_a_route_takes_one_target_and_known_events():
    with pytest.raises(ValidationError, match="one of email or webhook"):
        NotificationRoute.model_validate({"events": ["gate_failed"]})
    with pytest.raises(ValidationError, match="retrain_requested"):
        NotificationRoute.model_validate({"events": ["gate_faild"], "webhook": {"conn_id": "hook"}})


def test_a_webhook_connection_given_as_a_uri_is_that_url(monkeypatch):
    """``https://hooks.example.com/services/T/B/X`` as the connection (Airflow keeps the path
    in ``schema``), or as Airflow's HTTP hook expects it, is the same URL."""
    url = "https://hooks.example.com/services/T0/B0/X0"
    monkeypatch.setenv("AIRFLOW_CONN_NIGHTJAR_TEST_URI", url)
    assert notifications.webhook_url(WebhookTarget(conn_id="nightjar_test_uri")) == url
    monkeypatch.setenv(
        "AIRFLOW_CONN_NIGHTJAR_TEST_HTTP",
        json.dumps({"conn_type": "http", "host": "hooks.example.com", "schema": "https",
                    "extra": {"endpoint": "services/T0/B0/X0"}}),
    )  # fmt: skip
    assert notifications.webhook_url(WebhookTarget(conn_id="nightjar_test_http")) == url
