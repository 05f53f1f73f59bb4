"""A feature task's Spark start: JVM defaults vs Nightjar's local-driver options vs those
options with the class-data-sharing archive (``nightjar.io.spark_jvm``).

Each trial is a fresh Python process, as an Airflow task is: it starts a local[2] session
with ``nightjar.io.spark.get_spark`` (or, for the baseline, the same builder without the
extra JVM options), then runs a small feature-shaped job (a pandas frame in through
Arrow, a range window, Arrow out). Reported per configuration, median of --repeats: wall
seconds to a session, wall seconds of the job, and CPU seconds of the driver JVM plus the
Python process, which is what four concurrent runs on two cores compete for.
Linux only (the JVM's CPU is read from /proc).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from bench.common import print_table, private_home, write_results

CONFIGURATIONS = ("jvm defaults", "local-driver options", "options + class archive")


def _trial(configuration: str) -> dict:
    """One fresh process's session start and first job (runs in the child)."""
    import pandas as pd
    from pyspark.sql import SparkSession, Window
    from pyspark.sql import functions as F

    from nightjar.core.settings import load_settings
    from nightjar.io import spark as nightjar_spark

    started = time.perf_counter()
    if configuration == "jvm defaults":
        spark = (
            SparkSession.builder.master("local[2]")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .getOrCreate()
        )
    else:
        spark = nightjar_spark.get_spark(load_settings())
    session_s = time.perf_counter() - started
    frame = spark.createDataFrame(
        pd.DataFrame(
            {"key": [f"c{i % 500}" for i in range(20_000)], "at": range(0, 20_000 * 60, 60)}
        )
    )
    window = Window.partitionBy("key").orderBy("at").rangeBetween(-86_400, -1)
    started = time.perf_counter()
    frame.withColumn("n", F.count("key").over(window)).toArrow()
    job_s = time.perf_counter() - started
    jvm = spark.sparkContext._gateway.proc
    with open(f"/proc/{jvm.pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    jvm_cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    own = os.times()
    return {
        "session_s": session_s,
        "job_s": job_s,
        "cpu_s": jvm_cpu_s + own.user + own.system,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    home = private_home()
    from nightjar.core.settings import load_settings
    from nightjar.io.spark_jvm import prepare_class_archive

    settings = load_settings()
    rows = []
    for configuration in CONFIGURATIONS:
        if configuration == "options + class archive":
            started = time.perf_counter()
            prepare_class_archive(settings)
            archive_s = time.perf_counter() - started
        trials = []
        for _ in range(args.repeats):
            child = subprocess.run(
                [sys.executable, "-m", "bench.spark_startup", "--trial", configuration],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "NIGHTJAR_HOME": str(home)},
            )
            trials.append(json.loads(child.stdout.strip().splitlines()[-1]))
        rows.append(
            {
                "configuration": configuration,
                **{
                    key: round(statistics.median(t[key] for t in trials), 2)
                    for key in ("session_s", "job_s", "cpu_s")
                },
            }
        )
    columns = ["configuration", "session_s", "job_s", "cpu_s"]
    print_table(f"Spark start in a fresh process (median of {args.repeats})", rows, columns)
    print(f"archive made once in {archive_s:.1f} s")
    path = write_results(
        "spark_startup",
        {"repeats": args.repeats, "archive_seconds": round(archive_s, 2), "results": rows},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--trial":
        print(json.dumps(_trial(sys.argv[2])))
    else:
        main()
