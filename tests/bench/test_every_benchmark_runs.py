"""Every benchmark of ``python -m bench`` runs, at tiny sizes, so none rots unnoticed (a
benchmark that has not run since its code changed measures nothing). Each runs as
``python -m bench`` runs it, in its own process, and must write its JSON.

The figures mean nothing at these sizes; ``docs/benchmarks.md`` has the real ones. The
two that go through the scheduler (``nightly_run``, ``backfill_year``) and the two that
start a Spark cluster are marked slow: they cost minutes even at a few rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import BENCHMARKS

ROOT = Path(__file__).parents[2]
TINY = {
    "scoring": ["--sizes", "2000"],
    "features": ["--rows", "5000", "--days", "3"],
    "training": ["--rows", "20000", "--repeats", "1"],
    "drift": ["--current-rows", "20000", "--reference-rows", "10000", "--features", "10",
              "--evidently-rows", "5000"],
    "dashboard": ["--nights", "5", "--rows", "500"],
    "spark_startup": ["--repeats", "1"],
    "spark_cluster": ["--sizes", "20000"],
    "features_cluster": ["--sizes", "20000", "--days", "3"],
    "compiled_scoring": ["--sizes", "2000", "--threads", "1"],
    "nightly_run": ["--sizes", "2000"],
    "backfill_year": ["--nights", "2", "--baseline-nights", "0"],
    "dag_parse": ["--datasets", "2", "--repeats", "1"],
}  # fmt: skip
SLOW = {"spark_cluster", "features_cluster", "nightly_run", "backfill_year"}


def test_every_benchmark_has_a_tiny_run():
    assert set(TINY) == set(BENCHMARKS)


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=[pytest.mark.slow] if n in SLOW else []) for n in sorted(TINY)],
)
def test_the_benchmark_runs_and_writes_its_results(name, tmp_path):
    """Run from an empty folder outside the repo, which must stay empty: everything a
    benchmark writes goes under its home or its results folder (MLflow's defaults would
    put ``mlflow.db`` and ``mlruns/`` in the working directory)."""
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "NIGHTJAR_BENCH_RESULTS": str(tmp_path),
        "NIGHTJAR_HOME": str(tmp_path / "home"),
    }
    result = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *TINY[name]],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    written = json.loads((tmp_path / f"{name}.json").read_text())
    assert written["benchmark"] == name
    assert sorted(p.name for p in workdir.iterdir()) == []
