"""Shared fixtures: one embedded home per test session, one Spark session per process.

The environment is set in ``pytest_configure``, before anything imports Airflow, so the
whole session (DagBag, ``dag.test()``, MLflow, Delta) lives under a temporary home.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import hypothesis
import pytest

from tests.ports import free_port

_HOME = Path(tempfile.mkdtemp(prefix="nightjar-test-"))

# No timing assertions in tests, Hypothesis's included: its deadline and its too-slow
# health check fail a correct test on a loaded machine (two xdist workers on two cores).
hypothesis.settings.register_profile(
    "nightjar", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
hypothesis.settings.load_profile("nightjar")


_CONFIGS: list[pytest.Config] = []  # this process's, for the hooks that are given none
_SET_BY_US = "PYTEST_NIGHTJAR_ENV_SET"  # what this configure added, for xdist's workers


def pytest_configure(config: pytest.Config) -> None:
    _CONFIGS[:] = [config]
    # An xdist worker inherits the environment of the controller, which ran this too:
    # drop what the controller added (its home's Airflow, its stand-in's port), so each
    # worker has its own, while what the user set stays.
    for key in filter(None, os.environ.pop(_SET_BY_US, "").split(",")):
        os.environ.pop(key, None)
    before = set(os.environ)
    os.environ["NIGHTJAR_HOME"] = str(_HOME)
    os.environ.setdefault("NIGHTJAR_LAKEFS_STANDIN_PORT", str(free_port()))
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from nightjar.core.settings import load_settings
    from nightjar.embedded.supervisor import apply_airflow_env

    apply_airflow_env(load_settings())
    os.environ[_SET_BY_US] = ",".join(sorted(set(os.environ) - before))


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


SLOW_PHASE_SECONDS = 60


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Each setup, call or teardown over a minute, with the time it ended, as it happens:
    pytest's ``--durations`` table comes at the end, and a run cut off by CI's time limit
    never prints it. The xdist controller prints it (a worker's output is not shown)."""
    if report.duration < SLOW_PHASE_SECONDS or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    reporter = _CONFIGS[0].pluginmanager.get_plugin("terminalreporter") if _CONFIGS else None
    if reporter is not None:
        ended = time.strftime("%H:%M:%S")
        reporter.ensure_newline()
        reporter.write_line(f"[{ended}] {report.duration:4.0f} s {report.when:<8} {report.nodeid}")
        reporter.flush()  # a CI log is a file: without it, the line waits in a buffer


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop Spark while logging still works (py4j logs from its finalisers otherwise)."""
    from nightjar.io.spark import stop_spark

    stop_spark()


# What each slow group of tests costs on two cores (seconds, from CI's run of 2026-12-07,
# the other worker busy), so the slowest start first: with `make test`'s two xdist
# workers, a long group picked last leaves one worker idle while the other finishes it.
GROUP_COST = {
    "tests/scheduler/test_as_users_run_it.py": 2100,
    "tests/scheduler/test_celery_workers.py": 1400,
    "tests/scheduler/test_onboarding.py": 1250,
    "tests/scheduler/test_many_datasets.py": 1150,
    "bench-backfill_year": 540,
    "bench-nightly_run": 470,
    "spark-cluster": 450,
    "bench-spark_cluster": 340,
    "e2e": 300,
    "bench-features_cluster": 255,
    "tests/scheduler/test_bad_input.py": 120,
}
# Files that share a session fixture costly to build twice run on one worker.
SHARED_SESSION = {
    "tests/e2e/": "e2e",  # the demo world, built once through dag.test()
    "tests/integration/features/test_s3a_feature_job.py": "spark-cluster",
    "tests/integration/io/test_delta_spark_cluster.py": "spark-cluster",
    "tests/integration/scoring/test_spark_engine_cluster.py": "spark-cluster",
}


def _group(nodeid: str) -> str:
    """The group of a test: its file, a shared fixture's name, or one benchmark."""
    path = nodeid.split("::", 1)[0]
    for prefix, group in SHARED_SESSION.items():
        if path.startswith(prefix):
            return group
    if path == "tests/bench/test_every_benchmark_runs.py" and "[" in nodeid:
        return "bench-" + nodeid.rsplit("[", 1)[1].rstrip("]")
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The costliest groups first. The sort is stable, so each group's tests stay together
    and in order (a module's fixtures build one world), with or without xdist."""
    items.sort(key=lambda item: -GROUP_COST.get(_group(item.nodeid), 0))


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """With ``--dist loadgroup``, each group runs whole on one worker: xdist's own scheduler
    for groups, fed these groups instead of ``xdist_group`` marks."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    # xdist reorders groups by their number of tests unless told not to, which undid the
    # order above: the Celery module (3 tests, 16 minutes) started 37th of 75 and the
    # scheduler benchmarks (1 test each, 5 minutes) 51st, at the end of the run.
    config.option.loadscopereorder = False

    class ByGroup(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid)

    return ByGroup(config, log)
