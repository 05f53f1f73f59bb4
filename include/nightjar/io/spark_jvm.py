"""JVM options for short-lived local Spark drivers, and the class archive they share.

On the embedded stack every feature task is a fresh process that starts its own local
Spark driver, runs a job over a few thousand rows and exits. Most of its CPU goes to
loading and JIT-compiling Spark's classes, not to the data. Two standard JVM features cut
that: C1-only compilation with the serial collector, and a class-data-sharing (CDS)
archive of the classes a feature job loads, dumped once per machine (under
``Settings.cache_path``) by a throw-away driver and then mapped by every later one.
Measured on a 2-core machine (2026-12-01), a local session plus its first job took 22 s
of CPU with the JVM's defaults, 13 s with the options alone and 8 s with the archive too
(`bench/spark_startup.py`). A cluster's long-lived drivers keep the JVM's defaults:
there, full JIT compilation pays for itself.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from nightjar.core.settings import Settings

log = logging.getLogger(__name__)

LOCAL_DRIVER_OPTIONS = (
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    # The driver's sockets (py4j, the block manager) on 127.0.0.1 itself, not on an
    # IPv4-mapped IPv6 address: the shared driver stays up beside Airflow.
    "-Djava.net.preferIPv4Stack=true",
    # The JVM's own warnings (a class archive it cannot map, say) on stderr, not on the
    # stdout of a command whose output is JSON.
    "-Xlog:all=warning:stderr",
)
ARCHIVE_TIMEOUT_SECONDS = 300


def is_local(master: str) -> bool:
    """Whether ``master`` runs Spark in this process (local[N]), where the JVM tuning applies."""
    return master.startswith("local")


def _java() -> Path | None:
    java_home = os.environ.get("JAVA_HOME")
    found = Path(java_home, "bin", "java") if java_home else shutil.which("java")
    return Path(found).resolve() if found and Path(found).exists() else None


def class_archive_path(settings: Settings) -> Path | None:
    """Where this Java and this Spark's archive lives (None without Java).

    The name hashes the Java binary and Spark's jar folder (its path too: the JVM maps an
    archive only for the class path it was dumped with, and a second virtualenv has
    another), so an upgrade or a second install makes a new archive instead of a stale
    one (which the JVM would refuse with a warning and run without)."""
    import pyspark

    java = _java()
    if java is None:
        return None
    jars = Path(pyspark.__file__).parent / "jars"
    identity = ":".join(
        map(
            str, (java, java.stat().st_mtime_ns, pyspark.__version__, jars, jars.stat().st_mtime_ns)
        )
    )
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return settings.cache_path / "spark-cds" / f"classes-{key}.jsa"


def local_driver_options(settings: Settings) -> str:
    """``spark.driver.extraJavaOptions`` for a local driver, with the archive if made."""
    options = list(LOCAL_DRIVER_OPTIONS)
    archive = class_archive_path(settings)
    if archive is not None and archive.exists():
        options.append(f"-XX:SharedArchiveFile={archive}")
    return " ".join(options)


def prepare_class_archive(settings: Settings) -> Path | None:
    """Dump the archive once per machine and user (30-70 s), unless it exists or Spark runs
    on a cluster. Every home shares it: it depends on the installed Java and Spark only.
    Best effort: without it local drivers only start slower."""
    archive = class_archive_path(settings)
    if archive is None or archive.exists() or not is_local(settings.spark_master):
        return archive
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(f"{archive.name}.{os.getpid()}.partial")
    log.info("preparing Spark's class archive %s (once per machine, 30-70 s)", archive)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "nightjar.io.spark_jvm", str(partial)],
            env={**os.environ, "NIGHTJAR_HOME": str(settings.home_dir)},
            capture_output=True,
            text=True,
            timeout=ARCHIVE_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        log.warning("no Spark class archive: it took over %d s", ARCHIVE_TIMEOUT_SECONDS)
        partial.unlink(missing_ok=True)
        return None
    if done.returncode != 0 or not partial.exists():
        log.warning("no Spark class archive (drivers start slower): %s", done.stderr[-500:])
        partial.unlink(missing_ok=True)
        return None
    partial.replace(archive)  # atomic: a driver maps a whole archive or none
    return archive


def _dump_archive(destination: str) -> None:
    """Run a small feature-shaped job in a driver that dumps its classes when it exits."""
    import pandas as pd
    from pyspark.sql import SparkSession, Window
    from pyspark.sql import functions as F

    options = " ".join([*LOCAL_DRIVER_OPTIONS, f"-XX:ArchiveClassesAtExit={destination}"])
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.driver.extraJavaOptions", options)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    frame = spark.createDataFrame(
        pd.DataFrame({"key": ["a", "b"] * 50, "at": pd.date_range("2026-01-01", periods=100)})
    )
    window = Window.partitionBy("key").orderBy(F.col("at").cast("long")).rangeBetween(-86400, -1)
    frame.withColumn("n", F.count("key").over(window)).cache().toArrow()
    jvm = spark.sparkContext._gateway.proc  # the driver JVM, which writes the archive on exit
    spark.stop()
    jvm.stdin.close()  # the JVM exits when its parent's pipe closes
    jvm.wait(timeout=ARCHIVE_TIMEOUT_SECONDS)


if __name__ == "__main__":
    _dump_archive(sys.argv[1])
