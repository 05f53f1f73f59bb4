"""Airflow's LocalExecutor, with task processes that start warm.

On Linux, Airflow 3's LocalExecutor forks its workers from the scheduler, and each
worker's supervisor forks every task process from itself (``os.fork``, no exec). A task
process therefore starts with whatever its worker had imported. Airflow's own modules
are there; Nightjar's stack (pandas, pyarrow, delta-rs, the lakeFS SDK, MLflow, LightGBM,
PySpark's Python side, pandera, Evidently) was not, and every task imported it again:
about 7 s of a scoring night's tasks on two cores, before any work.

This executor imports that stack once, in the scheduler, before it forks the workers
(Airflow freezes the garbage collector around the fork, so the pages stay shared). It
only imports: no client, session, engine, JVM or thread pool is created before the fork,
so none is shared between tasks. Each task still builds its own settings, MLflow client,
lakeFS client and Spark session from its own environment; its log's first line says what
it read and that it started warm (``nightjar.airflow.glue``), and
``tests/scheduler/test_many_datasets.py`` checks that line for three datasets' tasks
that the same workers ran in turn. Imports
that fail are logged and left to the task, which then fails with its own error.

Use it as ``AIRFLOW__CORE__EXECUTOR=nightjar.airflow.executor.LocalExecutor``; the
class keeps Airflow's name, so Airflow still treats it as the local executor it is.
"""

from __future__ import annotations

import importlib
import logging
import time

from airflow.executors.local_executor import LocalExecutor as AirflowLocalExecutor

log = logging.getLogger(__name__)

WARM_MODULES = (
    "numpy",
    "pandas",
    "pyarrow",
    "pyarrow.compute",
    "pyarrow.dataset",
    "pyarrow.parquet",
    "deltalake",
    "lakefs",
    "lakefs_sdk",
    "httpx",
    "sqlglot",
    "duckdb",
    "sklearn.isotonic",
    "sklearn.metrics",
    "lightgbm",
    "mlflow",
    "mlflow.lightgbm",
    "pyspark.sql",
    "pandera.pandas",
    "evidently",
    # Nightjar's steps import their stage lazily, so a DAG file parses light: warm them.
    "nightjar.pipeline.score",
    "nightjar.pipeline.monitor",
    "nightjar.pipeline.retrain",
    "nightjar.pipeline.watch",
    "nightjar.features.job",
    "nightjar.scoring.scorer",
    "nightjar.scoring.shadow",
    "nightjar.monitoring.night_signals",
    "nightjar.monitoring.loop_guard",
    "nightjar.monitoring.performance",
    "nightjar.monitoring.drift_report",
    "nightjar.training.trainer",
    "nightjar.evaluation.evaluate",
    "nightjar.promotion.compilation",
    "nightjar.promotion.model_card",
    "nightjar.ingest.raw_changes",
    "nightjar.airflow.glue",
    "nightjar.airflow.lineage",
)


# How many modules this process preloaded; a process forked from it inherits the count,
# and its task's first log line says "started warm" only when it is not zero.
PRELOADED_MODULES = 0


def preload(modules: tuple[str, ...] = WARM_MODULES) -> tuple[int, float]:
    """Import ``modules``; return how many imported and the seconds it took."""
    global PRELOADED_MODULES
    started, imported = time.monotonic(), 0
    for name in modules:
        try:
            importlib.import_module(name)
            imported += 1
        except Exception as exc:  # the task that needs it fails with its own error
            log.warning("could not preload %s for task processes: %s", name, exc)
    PRELOADED_MODULES += imported
    return imported, time.monotonic() - started


class LocalExecutor(AirflowLocalExecutor):
    """Airflow's LocalExecutor, whose workers (and so their task processes) fork with
    Nightjar's stack already imported."""

    def start(self) -> None:
        """Preload the stack, then fork the workers as Airflow's LocalExecutor does."""
        imported, seconds = preload()
        log.info("preloaded %d modules in %.1f s: task processes fork warm", imported, seconds)
        super().start()
