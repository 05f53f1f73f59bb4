"""The shared local Spark driver over many tasks: what tasks leave in it is measured, and
a driver whose heap stays full retires while the stack starts a fresh one.

Real parts: the driver is ``serve_shared_driver`` in its own process, as ``nightjar
airflow`` starts it; each "task" is a fresh Python process that attaches, works, and
exits without running finalizers, as a forked task process does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nightjar.core.settings import Settings
from nightjar.embedded.airflow_stack import SHARED_DRIVER_COMMAND, AirflowStack, stack_env
from nightjar.io.spark_driver import info_path

pytestmark = pytest.mark.slow

TASK = textwrap.dedent(
    """
    import os, sys
    import pandas as pd
    from nightjar.core.settings import load_settings
    from nightjar.io import spark
    from nightjar.io.spark_driver import heap_use

    def step(rows):  # a step's frames live as long as the step
        session = spark.get_spark(load_settings())
        assert spark._attached, "did not attach to the shared driver"
        frame = session.createDataFrame(
            pd.DataFrame({"a": range(rows), "b": ["x" * 40] * rows})
        )
        assert frame.count() == rows
        if sys.argv[2] == "measure":
            print(heap_use(session.sparkContext._jvm, collect=True)[0], flush=True)

    step(int(sys.argv[1]))
    os._exit(0)  # as a forked task process ends: no finalizers, no atexit
    """
)


def _settings(tmp_path: Path, retire_share: float) -> Settings:
    return Settings(home=tmp_path / "home", spark_driver_retire_share=retire_share)


def _env(settings: Settings, retire_share: float) -> dict[str, str]:
    env = stack_env(settings)
    env["NIGHTJAR_SPARK_DRIVER_RETIRE_SHARE"] = str(retire_share)
    env.pop("NIGHTJAR_SPARK_MASTER", None)
    return env


def _published(settings: Settings, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return json.loads(info_path(settings).read_text())
        except (OSError, ValueError):
            time.sleep(0.5)
    pytest.fail("the shared driver never said where it runs")


def _task(env: dict[str, str], rows: int, mode: str = "work") -> str:
    done = subprocess.run(
        [sys.executable, "-c", TASK, str(rows), mode],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


def test_what_finished_tasks_leave_in_the_driver_is_measured(tmp_path):
    """Why the driver retires: tasks that ended still hold heap in it. The figure is
    printed (``spark_driver``'s docstring quotes it); the test fails if six tasks left
    nothing, when the retirement, and that docstring, would be wrong."""
    settings = _settings(tmp_path, 1.0)
    env = _env(settings, 1.0)
    stack = AirflowStack(settings, env, log_dir=tmp_path / "logs")
    stack.log_dir.mkdir()
    stack._start("spark-driver", SHARED_DRIVER_COMMAND)
    try:
        _published(settings)
        before = int(_task(env, 1_000, "measure").splitlines()[-1])
        for _ in range(6):
            _task(env, 200_000)
        after = int(_task(env, 1_000, "measure").splitlines()[-1])
        print(
            f"driver heap after a full collection: {before >> 20} MiB, then {after >> 20} "
            f"MiB after six tasks of 200,000 rows ({(after - before) / 6 / 2**20:.0f} MiB each)"
        )
        assert after > before
    finally:
        stack.stop()


def test_a_driver_whose_heap_stays_full_retires_and_a_fresh_one_starts(tmp_path):
    settings = _settings(tmp_path, 0.0)  # any heap at all is "full"
    env = _env(settings, 0.0)
    stack = AirflowStack(settings, env, log_dir=tmp_path / "logs")
    stack.log_dir.mkdir()
    stack._start("spark-driver", SHARED_DRIVER_COMMAND)
    try:
        first = _published(settings)["pid"]
        deadline = time.monotonic() + 240
        while stack.processes["spark-driver"].pid == first:
            assert time.monotonic() < deadline, "the driver never retired"
            stack._replace_a_retired_driver()
            time.sleep(1)
        fresh = _published(settings)["pid"]
        assert fresh == stack.processes["spark-driver"].pid != first
        old = stack._retiring[0]
        assert old.poll() is None, "the retired driver stopped serving its attached tasks"
        log = (stack.log_dir / "spark-driver.log").read_text()
        assert "retiring" in log and "after a full collection" in log
        _task(env, 1_000)  # a new task attaches to the fresh driver
    finally:
        stack.stop()
    assert old.poll() is not None and stack.processes == {}
