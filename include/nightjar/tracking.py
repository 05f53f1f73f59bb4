"""MLflow connection: tracking and registry URIs, and the experiment per dataset."""

from __future__ import annotations

import os

from nightjar.settings import Settings


def configure_mlflow(settings: Settings) -> None:
    """Point MLflow at the configured store (SQLite under home when embedded)."""
    import mlflow

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "5")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "2")
    if settings.mlflow_tracking_uri is None:
        (settings.home_dir / "mlflow").mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.mlflow_uri)
    mlflow.set_registry_uri(settings.mlflow_uri)


def ensure_experiment(settings: Settings, dataset: str) -> str:
    """The experiment id for a dataset, created with artifacts under home when embedded."""
    import mlflow

    configure_mlflow(settings)
    name = f"nightjar-{dataset}"
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None if settings.mlflow_tracking_uri else f"{settings.mlflow_artifact_root}/{name}"
    try:
        return mlflow.create_experiment(name, artifact_location=location)
    except mlflow.exceptions.MlflowException:
        # Another process created it between our check and our create.
        return mlflow.get_experiment_by_name(name).experiment_id
