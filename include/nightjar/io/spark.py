"""One shared Spark session per process, built from the ``Settings`` it is given.

Starting a local session costs seconds, so every task and test in a process shares one.
In production ``NIGHTJAR_SPARK_MASTER`` points at a cluster and the same code runs there;
``NIGHTJAR_SPARK_WRITER=delta-spark`` (or the Spark scoring engine) adds delta-spark (its
pinned jars) for executors that read and write Delta themselves, and
``NIGHTJAR_SPARK_CONF`` passes any other Spark setting through.
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
_attached = False  # the session is the shared driver's: stopping it is not ours to do


def session_key(settings: Settings) -> tuple:
    """What a session is built from; a process holds one session (one SparkContext)."""
    return (
        settings.spark_master,
        settings.spark_driver_memory,
        str(settings.home_dir),
        settings.spark_uses_delta,
        str(settings.spark_jars_path) if settings.spark_uses_delta else None,
        tuple(sorted(settings.spark_conf.items())),
        settings.raw_reader,
        settings.lakefs_endpoint,
    )


def get_spark(settings: Settings, *, shared: bool | None = None):
    """The process's Spark session, built from ``settings`` on first use; with a local
    master, a session on the shared driver when one runs for the same settings
    (``spark_driver``; ``shared=False`` never attaches: the shared driver itself).

    Spark allows one SparkContext per process: asking again with settings that would
    build a different session fails, rather than silently using the first one's."""
    global _session, _attached
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
    use_shared = settings.spark_shared_driver if shared is None else shared
    if use_shared and is_local(settings.spark_master):
        from nightjar.io.spark_driver import attach

        if (attached := attach(settings, key)) is not None:
            _session, _attached = (key, attached), True
            return attached
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
        # LightGBM's OpenMP threads in the executors' Python workers: one per task core,
        # and idle ones sleep instead of spinning on the cores other tasks need.
        .config("spark.executorEnv.OMP_NUM_THREADS", "1")
        .config("spark.executorEnv.OMP_WAIT_POLICY", "PASSIVE")
    )
    if is_local(settings.spark_master):
        builder = builder.config("spark.driver.extraJavaOptions", local_driver_options(settings))
    if settings.spark_uses_delta:
        builder = _with_delta(builder, settings)
    if settings.raw_reader == "s3a":
        builder = _with_s3a(builder, settings)
    for name, value in settings.spark_conf.items():
        builder = builder.config(name, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    _session = (key, session)
    return session


def _with_delta(builder, settings: Settings):
    """delta-spark's SQL extension and catalog, from the pinned jars (fetched beforehand:
    a session never downloads anything)."""
    from nightjar.io.spark_jars import DELTA, missing

    if absent := missing(settings, DELTA):
        raise SparkUnavailableError(
            "delta-spark (NIGHTJAR_SPARK_WRITER=delta-spark or NIGHTJAR_SCORING_ENGINE=spark) "
            f"needs {', '.join(a.file_name for a in absent)} in {settings.spark_jars_path}: "
            "run `nightjar spark fetch-jars`"
        )
    return (
        builder.config("spark.jars", _jars(settings))
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", DELTA_CATALOG)
    )


def _jars(settings: Settings) -> str:
    """The pinned jars this session needs, as ``spark.jars`` lists them."""
    from nightjar.io.spark_jars import DELTA, S3A, jar_paths

    artifacts = DELTA + (S3A if settings.raw_reader == "s3a" else ())
    return ",".join(str(path) for path in jar_paths(settings, artifacts))


def _with_s3a(builder, settings: Settings):
    """hadoop-aws's ``s3a://`` file system pointed at lakeFS's S3 gateway: path-style
    (the bucket is the repository), with the lakeFS keys from settings. Executors read
    ``s3a://<repository>/<commit id>/<path>``; a commit id makes the read immutable."""
    from nightjar.io.lakefs_client import resolve_credentials
    from nightjar.io.spark_jars import S3A, missing

    if absent := missing(settings, S3A):
        raise SparkUnavailableError(
            f"NIGHTJAR_RAW_READER=s3a needs {', '.join(a.file_name for a in absent)} in "
            f"{settings.spark_jars_path}: run `nightjar spark fetch-jars`"
        )
    credentials = resolve_credentials(settings)
    hadoop = {
        "fs.s3a.endpoint": credentials.endpoint,
        "fs.s3a.endpoint.region": "us-east-1",  # lakeFS ignores it; the AWS SDK needs one
        "fs.s3a.path.style.access": "true",
        "fs.s3a.connection.ssl.enabled": str(credentials.endpoint.startswith("https")).lower(),
        "fs.s3a.access.key": credentials.access_key_id,
        "fs.s3a.secret.key": credentials.secret_access_key,
        "fs.s3a.aws.credentials.provider": (
            "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
        ),
    }
    for key, value in hadoop.items():
        builder = builder.config(f"spark.hadoop.{key}", value)
    return builder.config("spark.jars", _jars(settings))


def stop_spark() -> None:
    """Stop the process's session, if one was started (tests and benchmarks call it)."""
    global _session, _attached
    if _session is not None:
        if not _attached:  # a session on the shared driver leaves the driver running
            _session[1].stop()
        _session, _attached = None, False


def serve_shared_driver() -> None:
    """Run the shared local driver (``nightjar.io.spark_driver``) for this environment's
    settings until SIGTERM, or until its heap fills and it retires (``spark_driver``):
    the embedded stack starts one beside Airflow, and a fresh one when it retires."""
    import logging
    import signal
    import time

    from nightjar.core.settings import load_settings
    from nightjar.io.spark_driver import (
        HEAP_CHECK_SECONDS,
        RETIRE_GRACE_SECONDS,
        publish,
        should_retire,
        withdraw,
    )

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = load_settings()
    session = get_spark(settings, shared=False)
    path = publish(settings, session, session_key(settings))
    logging.getLogger(__name__).info("shared Spark driver up (pid %d): %s", os.getpid(), path)

    def stop(signum: int, _frame: Any) -> None:
        withdraw(path)
        stop_spark()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    jvm = session.sparkContext._jvm
    while True:
        time.sleep(HEAP_CHECK_SECONDS)
        retire, said = should_retire(jvm, settings.spark_driver_retire_share)
        if retire:
            break
    withdraw(path)  # no new task attaches; the stack starts a fresh driver
    logging.getLogger(__name__).warning(
        "shared Spark driver (pid %d) retiring: %s; serving the attached tasks %d s more",
        os.getpid(),
        said,
        RETIRE_GRACE_SECONDS,
    )
    time.sleep(RETIRE_GRACE_SECONDS)
    stop_spark()
    sys.exit(0)
