"""A long-lived local Spark driver the tasks of one Airflow share, on the embedded stack.

Every feature task used to start its own local driver: a JVM that loads and compiles
Spark's classes for three seconds, then runs its first job slowly while the JIT warms up
(`bench/spark_startup.py`; about 5 s of a 2,000-row scoring night on two cores). Here one
driver is started beside Airflow's components (``nightjar airflow``) and stays up; a
task process attaches to it through py4j (the same connection a driver's own Python
uses) in about half a second, with its own ``SparkSession`` (``newSession``: its own SQL
settings, temporary views and functions), and detaches when it exits. The JVM, its cached
classes and its JIT-compiled code are shared; the data of one task is never another's.

A task attaches only when the driver was built from the same Spark settings it would
build its own session from (``spark.session_key``: master, memory, home, jars, delta,
raw reader, extra conf); otherwise, or when no driver runs, or attaching fails, it starts
its own session as before. A cluster (``NIGHTJAR_SPARK_MASTER=spark://...``) never uses
this: its driver is per task, where the job is large and the start is small beside it.

``nightjar.io.spark.serve_shared_driver`` runs one, with the stack's environment; it
writes where to reach it to ``<home>/spark-driver.json`` (private: the gateway's secret
is in it) and serves until SIGTERM.

A driver that serves thousands of tasks must not grow without bound, and what a task
leaves behind is not all released when it detaches: a task killed mid-job keeps its
cached frames in the shared cache manager, and the rows of a frame a task created from
pandas stay in the driver after the task has gone (measured: 30-36 MiB for each task
of 200,000 such rows, ``tests/integration/io/test_shared_driver.py``). So the driver
checks its heap every ``HEAP_CHECK_SECONDS``; when what survives a full collection passes
``Settings.spark_driver_retire_share`` of the heap, it **retires**: it removes its
``spark-driver.json`` (new tasks do not attach), serves the tasks already attached for
``RETIRE_GRACE_SECONDS`` more, and exits. The stack sees the file gone and starts a fresh
driver at once (``AirflowStack.watch``). Found in the scheduler test: after about 80
scoring and 10 training jobs on one 2 GiB driver, a training feature job failed with
``OutOfMemoryError: Java heap space`` on every try.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from nightjar.core.settings import Settings

log = logging.getLogger(__name__)

# What PySpark's own gateway launcher imports into the JVM view, so the Python API finds
# the classes it calls (pyspark.java_gateway.launch_gateway).
_JAVA_IMPORTS = (
    "org.apache.spark.SparkConf",
    "org.apache.spark.api.java.*",
    "org.apache.spark.api.python.*",
    "org.apache.spark.ml.python.*",
    "org.apache.spark.mllib.api.python.*",
    "org.apache.spark.resource.*",
    "org.apache.spark.sql.Encoders",
    "org.apache.spark.sql.OnSuccessCall",
    "org.apache.spark.sql.functions",
    "org.apache.spark.sql.classic.*",
    "org.apache.spark.sql.api.python.*",
    "org.apache.spark.sql.hive.*",
    "scala.Tuple2",
)


HEAP_CHECK_SECONDS = 30
RETIRE_GRACE_SECONDS = 900  # longer than any feature job of the embedded stack


def heap_use(jvm: Any, *, collect: bool) -> tuple[int, int]:
    """(used, max) bytes of the driver JVM's heap, after a full collection if ``collect``."""
    if collect:
        jvm.java.lang.System.gc()
    usage = jvm.java.lang.management.ManagementFactory.getMemoryMXBean().getHeapMemoryUsage()
    return int(usage.getUsed()), int(usage.getMax())


def should_retire(jvm: Any, share: float) -> tuple[bool, str]:
    """Whether the heap stays above ``share`` of its maximum after a full collection (a
    collection runs only when the heap is above it already: it costs a second of CPU)."""
    used, most = heap_use(jvm, collect=False)
    if used <= share * most:
        return False, ""
    used, most = heap_use(jvm, collect=True)
    said = f"{used >> 20} of {most >> 20} MiB of heap in use after a full collection"
    return used > share * most, said


def info_path(settings: Settings) -> Path:
    """Where a running shared driver says how to reach it."""
    return settings.home_dir / "spark-driver.json"


def publish(settings: Settings, session: Any, key: tuple) -> Path:
    """Write where the driver ``session`` runs in answers (private: its gateway's secret)."""
    gateway = session.sparkContext._gateway
    path = info_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial")
    with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(
            {
                "port": gateway.java_parameters.port,
                "secret": gateway.java_parameters.auth_token,
                "key": json.loads(json.dumps(key, default=str)),
                "pid": os.getpid(),
            },
            f,
        )
    temporary.replace(path)
    return path


def withdraw(path: Path) -> None:
    """Remove ``path`` if it still says this process is the driver: after a retirement it
    names the fresh driver, which a late SIGTERM of the old one must not unpublish."""
    try:
        ours = json.loads(path.read_text()).get("pid") == os.getpid()
    except (OSError, ValueError):
        return
    if ours:
        path.unlink(missing_ok=True)


def attach(settings: Settings, key: tuple) -> Any | None:
    """A session of its own on the shared driver, when one runs for these Spark settings
    (``key``); None otherwise, and the caller starts its own."""
    path = info_path(settings)
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if info.get("key") != json.loads(json.dumps(key, default=str)) or not _alive(info["pid"]):
        return None
    try:
        return _session_on(info["port"], info["secret"])
    except Exception as exc:  # a driver going down, a refused connection: start our own
        log.warning("could not attach to the shared Spark driver (%s); starting one", exc)
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _session_on(port: int, secret: str):
    from py4j.clientserver import ClientServer, JavaParameters, PythonParameters
    from py4j.java_gateway import java_import
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession

    gateway = ClientServer(
        java_parameters=JavaParameters(port=port, auth_token=secret, auto_convert=True),
        python_parameters=PythonParameters(port=0, eager_load=False),
    )
    for name in _JAVA_IMPORTS:
        java_import(gateway.jvm, name)
    jvm = gateway.jvm
    jsc = jvm.org.apache.spark.api.java.JavaSparkContext.fromSparkContext(
        jvm.org.apache.spark.SparkContext.getOrCreate()
    )
    context = SparkContext(conf=SparkConf(_jconf=jsc.sc().conf()), gateway=gateway, jsc=jsc)
    shared = jvm.org.apache.spark.sql.classic.SparkSession.builder().getOrCreate()
    session = SparkSession(context, jsparkSession=shared.newSession())
    log.info("attached to the shared Spark driver on 127.0.0.1:%d", port)
    return session
