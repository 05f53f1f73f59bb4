"""A real Spark standalone cluster on this machine: a master and workers as separate JVMs,
started with the ``spark-class`` launcher and the classes that ship inside pyspark.

The tests and ``bench/`` run Nightjar's Spark path against it, so the cluster code path
(executors in other processes, a capped driver) is exercised without a cluster to hand.
Every process binds to 127.0.0.1 and runs in its own process group, which ``stop`` ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from nightjar.embedded.ports import free_port

SPARK_HOME = Path(__import__("pyspark").__file__).parent
SHORT_LIVED_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
SHORT_LIVED_CONF = {
    "spark.driver.extraJavaOptions": SHORT_LIVED_JVM,
    "spark.executor.extraJavaOptions": SHORT_LIVED_JVM,
}
"""Spark settings for a driver and executors that live for one small job (the tests): C1-only
JIT and the serial collector halve their start on 2 cores (the first query on a fresh
cluster: 57 s with the JVM's defaults, 25 s with these, measured 2026-12-02). Long-lived
JVMs, and the benchmarks, keep the defaults: there, full JIT compilation pays for itself."""


@dataclass
class SparkCluster:
    """A running standalone master and its workers, each in its own process group."""

    root: Path
    master_port: int
    ui_port: int
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def master_url(self) -> str:
        return f"spark://127.0.0.1:{self.master_port}"

    def status(self) -> dict:
        """The master's own view (its web UI's ``/json/``); empty while it is not up."""
        try:
            return httpx.get(f"http://127.0.0.1:{self.ui_port}/json/", timeout=3).json()
        except (httpx.HTTPError, ValueError):
            return {}

    def alive_workers(self) -> int:
        workers = self.status().get("workers", [])
        return sum(worker["state"] == "ALIVE" for worker in workers)

    def completed_applications(self) -> list[dict]:
        """The applications (one per Spark driver) that ran on the cluster and ended."""
        return self.status().get("completedapps", [])

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def start_cluster(root: Path, *, workers: int = 2, cores: int = 1, memory: str = "1g"):
    """Start a master and ``workers`` workers on 127.0.0.1; wait until all registered."""
    root.mkdir(parents=True, exist_ok=True)
    cluster = SparkCluster(root, free_port(), free_port())
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ["HOME"],
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        **({"JAVA_HOME": os.environ["JAVA_HOME"]} if "JAVA_HOME" in os.environ else {}),
    }
    launcher = str(SPARK_HOME / "bin" / "spark-class")

    def launch(name: str, *args: str) -> None:
        with (root / f"{name}.log").open("wb") as log:
            cluster.processes.append(
                subprocess.Popen(
                    [launcher, *args],
                    env=env,
                    cwd=root,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    launch("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
           "--port", str(cluster.master_port), "--webui-port", str(cluster.ui_port))  # fmt: skip
    for i in range(workers):
        work = root / f"worker-{i}"
        work.mkdir(exist_ok=True)
        launch(f"worker-{i}", "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
               "--cores", str(cores), "--memory", memory, "--webui-port", "0",
               "--work-dir", str(work), cluster.master_url)  # fmt: skip
    deadline = time.monotonic() + 120
    while cluster.alive_workers() < workers:
        if time.monotonic() > deadline or any(p.poll() is not None for p in cluster.processes):
            logs = "\n".join(f.read_text()[-1500:] for f in sorted(root.glob("*.log")))
            cluster.stop()
            raise RuntimeError(f"the Spark cluster did not come up:\n{logs}")
        time.sleep(1)
    return cluster


def java_available() -> bool:
    """Whether a Java runtime is there to run the cluster's JVMs."""
    return bool(os.environ.get("JAVA_HOME") or shutil.which("java"))
