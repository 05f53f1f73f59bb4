"""A failed gate reaches a webhook: a real HTTP endpoint on 127.0.0.1 receives the POST."""

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from nightjar.core.run_info import RunInfo
from nightjar.core.settings import Settings
from nightjar.evaluation import notify
from nightjar.evaluation.gate import Check, GateDecision

DECISION = GateDecision(
    passed=False,
    checks=[Check(name="min_primary_metric", value=0.61, threshold=0.65, passed=False)],
)
RUN = RunInfo(
    dag_id="nightjar_retrain",
    run_id="manual__2026-03-07",
    logical_date="2026-03-07T00:00:00",
    target_date=dt.date(2026, 3, 7),
    interval_end=dt.datetime(2026, 3, 8, tzinfo=dt.UTC),
)


@pytest.fixture
def endpoint():
    """An HTTP server that records each POST body and answers with ``status``."""
    received, status = [], [200]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(status[0])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received, status
    server.shutdown()


def test_a_failed_gate_is_posted_with_its_checks(settings, config, endpoint):
    url, received, _ = endpoint
    hooked = Settings(home=settings.home_dir, gate_failed_webhook=url)
    assert notify.gate_failed(hooked, config, DECISION, RUN, "abc123")
    (payload,) = received
    assert payload["model_name"] == config.model.name and payload["mlflow_run_id"] == "abc123"
    assert "failed the gate" in payload["text"] and "[FAIL] min_primary_metric" in payload["text"]
    assert payload["decision"]["checks"][0]["threshold"] == 0.65


def test_an_endpoint_that_refuses_is_logged_not_raised(settings, config, endpoint, caplog):
    url, _, status = endpoint
    status[0] = 500
    hooked = Settings(home=settings.home_dir, gate_failed_webhook=url)
    assert not notify.gate_failed(hooked, config, DECISION, RUN, "abc123")
    assert "the gate-failed webhook answered 500" in caplog.text
    assert url not in caplog.text
