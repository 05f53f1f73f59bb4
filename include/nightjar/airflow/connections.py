"""lakeFS and MLflow from Airflow connections, when the deployment has them.

A task asks Airflow for its dataset's stores before its step runs: the connection named
by ``NIGHTJAR_LAKEFS_CONN_ID`` (``lakefs_default``) gives lakeFS's endpoint (host, port,
scheme) and keys (login, password); ``NIGHTJAR_MLFLOW_CONN_ID`` (``mlflow_default``) the
tracking server's URL and its basic-auth login. Airflow resolves them through its secrets
backends (an ``AIRFLOW_CONN_*`` variable, a vault, its database), so the keys need not be
in any task's environment. A connection that no backend has leaves that store to the
environment (``NIGHTJAR_LAKEFS_*``, ``NIGHTJAR_MLFLOW_TRACKING_*``), as before.

Airflow registers a connection's password with its secrets masker as it hands it over,
so a log line that happened to carry it shows ``***``; Settings keep it as a
``SecretStr``, so a repr of the settings or a step's result never holds it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nightjar.core.settings import Settings

log = logging.getLogger(__name__)


def http_url(connection: Any) -> str:
    """The URL an HTTP-style Airflow connection names, without its login. A connection
    given as a URI (``https://hooks.example/T/B/X``) arrives as scheme, host, port and path
    (Airflow keeps the path in ``schema``); one made as Airflow's HTTP hook expects has
    ``schema`` as the scheme, or a whole URL as host."""
    host, schema = connection.host or "", connection.schema or ""
    if "://" in host:
        return host.rstrip("/")
    port = f":{connection.port}" if connection.port else ""
    if schema in ("", "http", "https"):
        scheme, path = schema or _scheme_of(connection.conn_type), ""
    else:
        scheme, path = _scheme_of(connection.conn_type), "/" + schema.strip("/")
    return f"{scheme}://{host}{port}{path}".rstrip("/")


def _scheme_of(conn_type: str | None) -> str:
    return "https" if conn_type == "https" else "http"


def store_settings(settings: Settings) -> dict[str, object]:
    """The Settings fields the task's Airflow connections give for lakeFS and MLflow: none
    for a store whose connection does not exist. A lakeFS connection without both keys is
    a ConfigError naming it (the task fails at once: a retry reads the same connection)."""
    from nightjar.core.errors import ConfigError

    given: dict[str, object] = {}
    lakefs = _connection(settings.lakefs_conn_id)
    if lakefs is not None:
        missing = [what for what, value in (("login (the access key id)", lakefs.login),
                                            ("password (the secret key)", lakefs.password))
                   if not value]  # fmt: skip
        if missing:
            raise ConfigError(
                f"Airflow connection {settings.lakefs_conn_id!r} has no {' and no '.join(missing)}"
                ": give it lakeFS's keys, or delete it to use NIGHTJAR_LAKEFS_* instead"
            )
        given |= {
            "lakefs_endpoint": http_url(lakefs),
            "lakefs_access_key_id": lakefs.login,
            "lakefs_secret_access_key": lakefs.password,
        }
    mlflow = _connection(settings.mlflow_conn_id)
    if mlflow is not None:
        given["mlflow_tracking_uri"] = http_url(mlflow)
        if mlflow.login:
            given |= {
                "mlflow_tracking_username": mlflow.login,
                "mlflow_tracking_password": mlflow.password,
            }
    taken = [f"{store} from Airflow connection {conn_id}"
             for store, conn_id, connection in (("lakeFS", settings.lakefs_conn_id, lakefs),
                                                ("MLflow", settings.mlflow_conn_id, mlflow))
             if connection is not None]  # fmt: skip
    if taken:
        log.info("%s", "; ".join(taken))
    return given


def _connection(conn_id: str) -> Any | None:
    """The Airflow connection ``conn_id``, or None when no secrets backend has it."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        return None
