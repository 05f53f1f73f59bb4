"""One shared Spark session per process, configured from settings.

Starting a local session costs seconds, so every task and test in a process shares one.
In production ``NIGHTJAR_SPARK_MASTER`` points at a cluster and the same code runs there.
"""

from __future__ import annotations

import os
import shutil
import sys
from functools import cache

from nightjar.core.errors import SparkUnavailableError
from nightjar.core.settings import load_settings
from nightjar.io.spark_jvm import is_local, local_driver_options


def require_java() -> None:
    """Fail with one clear line when no Java is installed, before Spark tries to start."""
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise SparkUnavailableError(
            "Spark needs a Java runtime (17 or newer), and none was found: install one "
            "(Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )


@cache
def get_spark():
    """The process's Spark session (created on first use)."""
    require_java()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    settings = load_settings()
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
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session
