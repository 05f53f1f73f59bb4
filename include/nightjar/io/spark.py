"""One shared Spark session per process, built from the ``Settings`` it is given.

Starting a local session costs seconds, so every task and test in a process shares one.
In production ``NIGHTJAR_SPARK_MASTER`` points at a cluster and the same code runs there;
``NIGHTJAR_SPARK_WRITER=delta-spark`` adds delta-spark (its pinned jars) for executors
that write Delta themselves.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

from nightjar.core.errors import SparkUnavailableError
from nightjar.core.settings import Settings
from nightjar.io.spark_jvm import is_local, local_driver_options


def java_missing() -> str | None:
    """One line saying why Spark cannot start for lack of Java, or None when Java is there."""
    if os.environ.get("JAVA_HOME") or shutil.which("java"):
        return None
    return (
        "Spark needs a Java runtime (17 or newer), and none was found: install one "
        "(Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
    )


def require_java() -> None:
    """Fail with one clear line when no Java is installed, before Spark tries to start."""
    if problem := java_missing():
        raise SparkUnavailableError(problem)


DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
_session: tuple[tuple, Any] | None = None  # (what it was built from, the session)


def session_key(settings: Settings) -> tuple:
    """What a session is built from; a process holds one session (one SparkContext)."""
    return (
        settings.spark_master,
        settings.spark_driver_memory,
        str(settings.home_dir),
        settings.spark_writer,
        str(settings.spark_jars_path) if settings.spark_writer == "delta-spark" else None,
    )


def get_spark(settings: Settings):
    """The process's Spark session, built from ``settings`` on first use.

    Spark allows one SparkContext per process: asking again with settings that would
    build a different session fails, rather than silently using the first one's."""
    global _session
    key = session_key(settings)
    if _session is not None:
        if _session[0] != key:
            raise SparkUnavailableError(
                f"this process's Spark session was built for {_session[0]}, not {key}: "
                "one process, one session"
            )
        return _session[1]
    require_java()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.appName("nightjar")
        .master(settings.spark_master)
        .config("spark.driver.memory", settings.spark_driver_memory)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.local.dir", str(settings.home_dir / "spark-tmp"))
    )
    if is_local(settings.spark_master):
        builder = builder.config("spark.driver.extraJavaOptions", local_driver_options(settings))
    if settings.spark_writer == "delta-spark":
        builder = _with_delta(builder, settings)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    _session = (key, session)
    return session


def _with_delta(builder, settings: Settings):
    """delta-spark's SQL extension and catalog, from the pinned jars (fetched beforehand:
    a session never downloads anything)."""
    from nightjar.io.spark_jars import DELTA, jar_paths, missing

    if absent := missing(settings, DELTA):
        raise SparkUnavailableError(
            f"NIGHTJAR_SPARK_WRITER=delta-spark needs {', '.join(a.file_name for a in absent)} "
            f"in {settings.spark_jars_path}: run `nightjar spark fetch-jars`"
        )
    jars = ",".join(str(path) for path in jar_paths(settings, DELTA))
    return (
        builder.config("spark.jars", jars)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", DELTA_CATALOG)
    )


def stop_spark() -> None:
    """Stop the process's session, if one was started (tests and benchmarks call it)."""
    global _session
    if _session is not None:
        _session[1].stop()
        _session = None
