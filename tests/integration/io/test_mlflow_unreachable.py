"""MLflow unreachable: calls are retried, then fail naming the endpoint, and nothing is
registered or promoted."""

import socket

import mlflow
import pytest

from nightjar.io import tracking
from nightjar.promotion import registry


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_registering_against_an_unreachable_mlflow_fails_and_registers_nothing(
    settings, monkeypatch
):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    away = settings.model_copy(update={"mlflow_tracking_uri": endpoint})
    with pytest.raises(mlflow.exceptions.MlflowException, match=endpoint):
        registry.register(away, "runs:/0123/model", "unreachable_check", tags={})
    with pytest.raises(mlflow.exceptions.MlflowException, match="Max retries exceeded"):
        registry.promote(away, "unreachable_check", "1", actor="test", reason="x")
    registered = tracking.client(settings).search_registered_models("name = 'unreachable_check'")
    assert not registered
    assert registry.history(settings, "unreachable_check").empty, "no alias move recorded"
