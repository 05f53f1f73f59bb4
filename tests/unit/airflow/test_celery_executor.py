"""The CeleryExecutor that ``nightjar airflow worker`` and the compose ``celery`` profile
use loads with the pinned celery: provider 3.26 imports a name celery 5.6 removed, and
Airflow then says only that the executor "could not be loaded"."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nightjar.core.errors import StackError
from nightjar.embedded.airflow_stack import celery_worker_command


def test_the_celery_executor_loads(tmp_path):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor"}
    code = (
        "from airflow.executors.executor_loader import ExecutorLoader; "
        "print(type(ExecutorLoader.load_executor('CeleryExecutor')).__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.stdout.strip().endswith("CeleryExecutor"), done.stderr[-2000:]


def test_a_worker_needs_the_celery_executor_and_a_broker():
    with pytest.raises(StackError, match="not the CeleryExecutor"):
        celery_worker_command({"AIRFLOW__CORE__EXECUTOR": "LocalExecutor"}, "a", 2, serve_logs=True)
    with pytest.raises(StackError, match="BROKER_URL is not set"):
        celery_worker_command(
            {"AIRFLOW__CORE__EXECUTOR": "CeleryExecutor"}, "a", 2, serve_logs=True
        )
    env = {"AIRFLOW__CORE__EXECUTOR": "CeleryExecutor", "AIRFLOW__CELERY__BROKER_URL": "redis://x"}
    command = celery_worker_command(env, "worker-a", 3, serve_logs=False)
    assert command[-6:] == ["worker", "--celery-hostname", "worker-a@%h", "--concurrency", "3",
                            "--skip-serve-logs"]  # fmt: skip
    assert env["NIGHTJAR_WORKER_NAME"] == "worker-a"
