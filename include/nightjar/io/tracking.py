"""MLflow access, always through a connection built from ``Settings``.

MLflow's fluent API (``mlflow.get_run``, ``mlflow.artifacts.load_text``...) reads a
process-global tracking URI, falling back to ``sqlite:///mlflow.db`` in the working
directory. A task process that called such a function before anything had set that URI
silently read an empty store. So every Nightjar call goes through here:

- ``client(settings)``: an ``MlflowClient`` bound to the configured store;
- ``read_text`` / ``download``: artifacts of a run, through that client;
- ``fluent(settings)``: for the few APIs that exist only in fluent form
  (``mlflow.<flavor>.log_model``, ``mlflow.register_model``, ``get_model_info``), the
  URI is set for the block and the previous one restored after it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from nightjar.core.settings import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient


def _prepare(settings: Settings) -> str:
    """MLflow's own process options, and the embedded store's folder; returns the URI."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "5")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "2")
    if settings.mlflow_tracking_uri is None:
        (settings.home_dir / "mlflow").mkdir(parents=True, exist_ok=True)
    if settings.mlflow_tracking_username and settings.mlflow_tracking_password:
        # MLflow reads a basic-auth server's credentials from these, per request.
        os.environ["MLFLOW_TRACKING_USERNAME"] = settings.mlflow_tracking_username
        os.environ["MLFLOW_TRACKING_PASSWORD"] = (
            settings.mlflow_tracking_password.get_secret_value()
        )
    return settings.mlflow_uri


def client(settings: Settings) -> MlflowClient:
    """A tracking and registry client for the configured store (SQLite under home when
    embedded); never MLflow's process-wide default."""
    from mlflow import MlflowClient

    uri = _prepare(settings)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@contextmanager
def fluent(settings: Settings) -> Iterator[None]:
    """Run MLflow fluent calls against the configured store, then restore the previous URI.

    Only for APIs with no client form; the block must not call into other code that
    expects a different store.
    """
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    with _use_tracking_uri(_prepare(settings)):
        yield


def read_text(settings: Settings, run_id: str, path: str) -> str:
    """The text artifact ``path`` of run ``run_id``."""
    with tempfile.TemporaryDirectory() as tmp:
        return Path(client(settings).download_artifacts(run_id, path, tmp)).read_text()


def download(settings: Settings, run_id: str, path: str, destination: Path) -> Path:
    """Download the artifact ``path`` of run ``run_id`` into ``destination``."""
    destination.mkdir(parents=True, exist_ok=True)
    return Path(client(settings).download_artifacts(run_id, path, str(destination)))


def ensure_experiment(settings: Settings, name: str) -> str:
    """The id of the experiment ``nightjar-<name>``, created (with artifacts under home when
    embedded) on first use."""
    from mlflow.exceptions import MlflowException

    mlflow_client = client(settings)
    full_name = f"nightjar-{name}"
    experiment = mlflow_client.get_experiment_by_name(full_name)
    if experiment is not None:
        return experiment.experiment_id
    location = (
        None if settings.mlflow_tracking_uri else f"{settings.mlflow_artifact_root}/{full_name}"
    )
    try:
        return mlflow_client.create_experiment(full_name, artifact_location=location)
    except MlflowException:
        # Another process created it between our check and our create.
        return mlflow_client.get_experiment_by_name(full_name).experiment_id


def registered_version(settings: Settings, model_name: str, version: str):
    """A registered model version and the MLflow run that trained it; ``RegistryError``
    naming the version and the store when either is missing."""
    from mlflow.exceptions import MlflowException

    from nightjar.core.errors import RegistryError

    mlflow_client = client(settings)
    try:
        model_version = mlflow_client.get_model_version(model_name, str(version))
        return model_version, mlflow_client.get_run(model_version.run_id)
    except MlflowException as exc:
        raise RegistryError(
            f"{model_name} v{version} is not in the registry at {settings.mlflow_uri}: "
            f"{str(exc).splitlines()[0]}"
        ) from None
