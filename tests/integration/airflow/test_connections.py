"""A task's lakeFS and MLflow from Airflow connections, read through Airflow's secrets
backends (here, ``AIRFLOW_CONN_*``), over the environment's; the environment's when
the deployment has no such connection. The lakeFS client is built and used against the
real stand-in, so a wrong key in the connection is refused by lakeFS itself."""

import json
import secrets

import lakefs
import pytest

from nightjar.airflow.connections import http_url, store_settings
from nightjar.core.settings import Settings, from_connections, load_settings
from nightjar.embedded.supervisor import standin_credentials
from nightjar.io.lakefs_client import make_client


def _connection(**fields) -> str:
    return json.dumps({"conn_type": "http", **fields})


@pytest.fixture
def lakefs_connection(monkeypatch, settings, embedded_stack):
    """``lakefs_default`` naming the session's stand-in, with its keys: set the password
    to change what lakeFS is given."""

    def set_connection(password: str | None = None) -> dict[str, str]:
        keys = standin_credentials(settings)
        secret = password or keys["secret_access_key"]
        monkeypatch.setenv(
            "AIRFLOW_CONN_LAKEFS_DEFAULT",
            _connection(host="127.0.0.1", port=settings.lakefs_standin_port,
                        login=keys["access_key_id"], password=secret),
        )  # fmt: skip
        return {"access_key_id": keys["access_key_id"], "secret": secret}

    return set_connection


def test_no_connection_leaves_the_stores_to_the_environment(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_LAKEFS_DEFAULT", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_MLFLOW_DEFAULT", raising=False)
    assert store_settings(Settings()) == {}


def test_the_lakefs_client_is_built_from_the_connection(lakefs_connection, settings):
    keys = lakefs_connection()
    given = store_settings(load_settings())
    assert given["lakefs_endpoint"] == f"http://127.0.0.1:{settings.lakefs_standin_port}"
    assert given["lakefs_access_key_id"] == keys["access_key_id"]
    with from_connections(given):
        from_airflow = load_settings()
        assert from_airflow.lakefs_endpoint == given["lakefs_endpoint"]
        assert from_airflow.lakefs_secret_access_key.get_secret_value() == keys["secret"]
        assert keys["secret"] not in repr(from_airflow)
        list(lakefs.repositories(client=make_client(from_airflow)))  # the connection's keys
    assert load_settings().lakefs_endpoint is None  # only within the block


def test_a_wrong_key_in_the_connection_is_refused_by_lakefs(lakefs_connection):
    lakefs_connection(password=secrets.token_urlsafe(16))  # not the stand-in's key
    with from_connections(store_settings(load_settings())):
        client = make_client(load_settings())
        with pytest.raises(lakefs.exceptions.NotAuthorizedException):
            list(lakefs.repositories(client=client))


def test_the_mlflow_server_and_its_login_come_from_the_connection(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLFLOW_DEFAULT",
        _connection(host="mlflow.internal", port=5000, login="nightjar", password="p4ss"),
    )
    monkeypatch.setenv("NIGHTJAR_MLFLOW_TRACKING_URI", "http://from-the-environment:5000")
    with from_connections(store_settings(load_settings())):
        settings = load_settings()
    assert settings.mlflow_tracking_uri == "http://mlflow.internal:5000"
    assert settings.mlflow_tracking_username == "nightjar"
    assert settings.mlflow_tracking_password.get_secret_value() == "p4ss"


def test_connection_names_are_settings(monkeypatch):
    monkeypatch.setenv("NIGHTJAR_MLFLOW_CONN_ID", "mlflow_prod")
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_PROD", _connection(host="https://mlflow.example.com"))
    monkeypatch.delenv("AIRFLOW_CONN_LAKEFS_DEFAULT", raising=False)
    assert store_settings(load_settings()) == {"mlflow_tracking_uri": "https://mlflow.example.com"}


@pytest.mark.parametrize(
    ("fields", "url"),
    [
        ({"host": "lakefs", "port": 8000}, "http://lakefs:8000"),
        ({"host": "lakefs.example.com", "schema": "https"}, "https://lakefs.example.com"),
        ({"host": "https://lakefs.example.com/"}, "https://lakefs.example.com"),
        ({"host": "hooks.example", "schema": "services/T/B"}, "http://hooks.example/services/T/B"),
    ],
)
def test_the_url_of_an_http_connection(fields, url):
    from airflow.sdk import Connection

    assert http_url(Connection(conn_id="c", conn_type="http", **fields)) == url


def test_a_lakefs_connection_without_its_keys_is_one_error_naming_it(monkeypatch, settings):
    """Not lakeFS's 401 minutes later, nor the message about NIGHTJAR_LAKEFS_* keys."""
    from nightjar.core.errors import ConfigError

    no_keys = _connection(host="127.0.0.1", port=settings.lakefs_standin_port)
    monkeypatch.setenv("AIRFLOW_CONN_LAKEFS_DEFAULT", no_keys)
    with pytest.raises(ConfigError) as raised:
        store_settings(load_settings())
    assert str(raised.value) == (
        "Airflow connection 'lakefs_default' has no login (the access key id) and no password "
        "(the secret key): give it lakeFS's keys, or delete it to use NIGHTJAR_LAKEFS_* instead"
    )
