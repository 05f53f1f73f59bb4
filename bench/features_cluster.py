"""The feature job on a Spark standalone cluster against the embedded path, on 10M raw rows.

One run starts the lakeFS stand-in and a master with two 1-core workers (separate JVMs, as
``tests/`` does). For each size it commits that many seeded demo applications
(``demo_data.applications_for``, ``--days`` daily partitions, written straight to a branch
and committed: setup, not timed) and runs the training feature job over the whole range
twice, each in a fresh process, as a retrain task runs it:

1. ``embedded``: the embedded stack's settings. The lakeFS SDK downloads the raw objects
   into the task process, pandera validates them with pandas, ``spark.createDataFrame``
   ships them to a ``local[2]`` JVM, the features come back with ``toArrow`` and delta-rs
   writes them. ``embedded-8g`` is the same with an 8 GiB local driver instead of 2 GiB,
   to see whether more memory is all it needs (``--paths``).
2. ``cluster``: ``NIGHTJAR_RAW_READER=s3a`` and ``NIGHTJAR_SPARK_WRITER=delta-spark`` on
   ``spark://``, driver capped at 1 GiB with results at 1 MiB. The executors read
   ``s3a://<repo>/<commit>/...`` through the stand-in's S3 gateway, pandera's pyspark
   backend validates there, and delta-spark writes from the executors.

Nothing is committed before the first day, so the 90-day windows read no extra history
and raw rows in = feature rows out; the benchmark checks both paths wrote every row and
quarantined none.

Reported per path: ``session_s`` (starting the Spark session, before the timer),
``seconds`` and ``rows_per_s`` for ``run_feature_job`` itself, ``process_wall_s`` (the
whole child: imports, session, job) and the peak RSS of the child's process tree (Python
and its driver JVM; the cluster's executors are the workers' children, not the driver's),
sampled every 0.2 s. A path whose tree passes ``--rss-limit-gib`` is stopped and reported
as not fitting.

    python -m bench.features_cluster --sizes 1000000,10000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.common import print_table, run_measured_child, write_results

FIRST_DAY = dt.date(2026, 1, 1)
SHARED = ("NIGHTJAR_CACHE_DIR", "NIGHTJAR_SPARK_JARS")  # the jars; every other setting is ours


def _job(repository: str, commit_id: str, start: str, end: str) -> None:
    """Child: the training feature job over ``start``..``end`` at the commit; print figures."""
    from nightjar.core.datasets import dataset_config
    from nightjar.core.settings import load_settings
    from nightjar.features.job import run_feature_job
    from nightjar.io.snapshots import Snapshot
    from nightjar.io.spark import get_spark, stop_spark
    from nightjar.training.trainer import TRAINING_RUN

    settings = load_settings()
    config = dataset_config(settings)
    started = time.perf_counter()
    get_spark(settings)
    session_s = time.perf_counter() - started
    started = time.perf_counter()
    result = run_feature_job(
        settings,
        config,
        Snapshot(repository, "", commit_id),
        start=dt.date.fromisoformat(start),
        end=dt.date.fromisoformat(end),
        table=config.table_name("training_features"),
        partition_column=TRAINING_RUN,
        partition_value="bench",
    )
    seconds = time.perf_counter() - started
    figures = {"rows": result.rows, "quarantined": result.quarantined}
    print(json.dumps({**figures, "seconds": seconds, "session_s": session_s}))
    stop_spark()


def _land(settings, config, repository: str, rows: int, days: int) -> tuple[str, dt.date]:
    """Commit ``rows`` demo applications over ``days`` days; return the commit and last day."""
    from nightjar.embedded import demo_data
    from nightjar.io import raw_tables, snapshots
    from nightjar.io.lakefs_client import make_client

    client = make_client(settings)
    snapshots.ensure_repository(client, repository, f"local://{repository}")
    path = config.sources["applications"].path
    last = FIRST_DAY + dt.timedelta(days=days - 1)
    for offset in range(days):
        day = FIRST_DAY + dt.timedelta(days=offset)
        on_the_day = rows // days + (offset < rows % days)  # exactly ``rows`` in all
        spec = demo_data.DemoSpec(rows_per_day=on_the_day, customers=10 * (rows // days + 1))
        frame = demo_data.applications_for(day, spec)
        raw_tables.write_partition(client, repository, snapshots.MAIN, path, day, frame)
    commit = snapshots.commit(client, repository, snapshots.MAIN, f"{rows} bench rows", {})
    return commit, last


def run(sizes: list[int], days: int, rss_limit_gib: float, only: list[str]) -> list[dict]:
    from nightjar.core.datasets import dataset_config
    from nightjar.core.settings import load_settings
    from nightjar.embedded.ports import free_port
    from nightjar.embedded.spark_cluster import start_cluster
    from nightjar.embedded.supervisor import EmbeddedStack

    root = Path(tempfile.mkdtemp(prefix="nightjar-bench-features-cluster-"))
    base = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NIGHTJAR_") or k in SHARED},
        "NIGHTJAR_HOME": str(root / "home"),
        "NIGHTJAR_LAKEFS_STANDIN_PORT": str(free_port()),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "OMP_WAIT_POLICY": "PASSIVE",
        "PYSPARK_PYTHON": sys.executable,
    }
    os.environ.update(base)
    settings = load_settings()
    config = dataset_config(settings)
    limit = int(rss_limit_gib * 2**30)
    rows_out: list[dict] = []
    with EmbeddedStack(settings):
        cluster = start_cluster(root / "cluster", workers=2, cores=1, memory="2g")
        paths = {
            "embedded": {**base, "NIGHTJAR_WAREHOUSE_URI": str(root / "warehouse-embedded")},
            "embedded-8g": {
                **base,
                "NIGHTJAR_WAREHOUSE_URI": str(root / "warehouse-embedded-8g"),
                "NIGHTJAR_SPARK_DRIVER_MEMORY": "8g",
            },
            "cluster": {
                **base,
                "NIGHTJAR_WAREHOUSE_URI": str(root / "warehouse-cluster"),
                "NIGHTJAR_SPARK_MASTER": cluster.master_url,
                "NIGHTJAR_RAW_READER": "s3a",
                "NIGHTJAR_SPARK_WRITER": "delta-spark",
                "NIGHTJAR_SPARK_DRIVER_MEMORY": "1g",
                "NIGHTJAR_SPARK_CONF": json.dumps(
                    {"spark.driver.maxResultSize": "1m", "spark.executor.memory": "1500m"}
                ),
            },
        }
        try:
            for size in sizes:
                repository = f"bench-features-{size}"
                print(f"committing {size:,} raw rows over {days} days", flush=True)
                commit, last = _land(settings, config, repository, size, days)
                for name, env in ((name, paths[name]) for name in only):
                    print(f"feature job on {size:,} raw rows, {name} path", flush=True)
                    args = ["_job", repository, commit, str(FIRST_DAY), str(last)]
                    result = run_measured_child("bench.features_cluster", args, env, limit)
                    row = {"rows": size, "path": name, "peak_rss_mib": result["peak_rss_mib"]}
                    if "failed" in result:
                        row.update(seconds="failed", rows_per_s=result["failed"])
                    else:
                        assert result["rows"] == size and result["quarantined"] == 0, result
                        row.update(
                            session_s=round(result["session_s"], 1),
                            seconds=round(result["seconds"], 1),
                            rows_per_s=int(size / result["seconds"]),
                            process_wall_s=round(result["wall_s"], 1),
                        )
                    rows_out.append(row)
                    print(row, flush=True)
                    _write(rows_out, days, rss_limit_gib)  # a run stopped later keeps these
        finally:
            cluster.stop()
    print_table(
        f"training feature job over {days} days: a 2-worker standalone cluster (1 core each, "
        "driver 1 GiB; s3a + pandera on Spark + delta-spark) vs the embedded path",
        rows_out,
        ["rows", "path", "session_s", "seconds", "rows_per_s", "process_wall_s", "peak_rss_mib"],
    )
    print("wrote", _write(rows_out, days, rss_limit_gib))
    return rows_out


def _write(rows_out: list[dict], days: int, rss_limit_gib: float) -> Path:
    return write_results(
        "features_cluster",
        {
            "cluster": {"workers": 2, "cores_per_worker": 1, "driver_memory": "1g"},
            "days": days,
            "rss_limit_gib": rss_limit_gib,
            "results": rows_out,
        },
    )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_job":
        return _job(*argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000", help="raw rows, comma-separated")
    parser.add_argument("--days", type=int, default=25, help="daily partitions they span")
    parser.add_argument(
        "--rss-limit-gib",
        type=float,
        default=16.0,
        help="stop a path whose process tree passes this RSS (default %(default)s)",
    )
    parser.add_argument(
        "--paths",
        default="embedded,cluster",
        help="comma-separated, of: embedded, embedded-8g (the same with an 8 GiB local "
        "driver), cluster (default %(default)s)",
    )
    args = parser.parse_args(argv)
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    if unknown := set(paths) - {"embedded", "embedded-8g", "cluster"}:
        parser.error(f"unknown path(s): {', '.join(sorted(unknown))}")
    run([int(s) for s in args.sizes.split(",")], args.days, args.rss_limit_gib, paths)


if __name__ == "__main__":
    main()
