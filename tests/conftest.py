"""Shared fixtures: one embedded home per test session, one Spark session per process.

The environment is set in ``pytest_configure``, before anything imports Airflow, so the
whole session (DagBag, ``dag.test()``, MLflow, Delta) lives under a temporary home.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

from tests.ports import free_port

_HOME = Path(tempfile.mkdtemp(prefix="nightjar-test-"))


def pytest_configure(config: pytest.Config) -> None:
    os.environ["NIGHTJAR_HOME"] = str(_HOME)
    os.environ.setdefault("NIGHTJAR_LAKEFS_STANDIN_PORT", str(free_port()))
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from nightjar.core.settings import load_settings
    from nightjar.embedded.supervisor import apply_airflow_env

    apply_airflow_env(load_settings())


@pytest.fixture(scope="session")
def settings():
    from nightjar.core.settings import load_settings

    return load_settings()


@pytest.fixture(scope="session")
def config(settings):
    from nightjar.core.datasets import dataset_config

    return dataset_config(settings)


@pytest.fixture(scope="session")
def spark(settings):
    from nightjar.io.spark import get_spark

    return get_spark(settings)


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory, settings):
    """A standalone master and two 1-core workers, separate JVMs, shared by the cluster
    tests (about 15 s to start) and stopped at the end of the session."""
    from nightjar.embedded.spark_cluster import java_available, start_cluster
    from nightjar.io.spark_jars import DELTA, missing

    if not java_available():
        pytest.fail("Java is missing: apt-get install openjdk-17-jre-headless (.ci/run does)")
    if absent := missing(settings, DELTA):
        pytest.fail(f"pinned jars missing ({absent}): run `nightjar spark fetch-jars`")
    running = start_cluster(tmp_path_factory.mktemp("spark-cluster"), workers=2, cores=1)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def embedded_stack(settings):
    """The lakeFS stand-in (or NIGHTJAR_LAKEFS_ENDPOINT) for the whole session."""
    from nightjar.embedded.supervisor import EmbeddedStack

    with EmbeddedStack(settings) as stack:
        yield stack


@pytest.fixture(scope="session")
def airflow_db(settings):
    from nightjar.embedded.supervisor import migrate_airflow_db

    migrate_airflow_db(settings)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop Spark while logging still works (py4j logs from its finalisers otherwise)."""
    from nightjar.io.spark import stop_spark

    stop_spark()
