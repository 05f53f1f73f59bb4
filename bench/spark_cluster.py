"""Scoring on a Spark standalone cluster against the Arrow engine, at sizes past one driver.

One run starts a master and two 1-core workers (separate JVMs, as ``tests/`` does), and
for each size:

1. a driver generates that many feature rows on the executors and delta-spark writes them
   as one date's partition (the features table both engines then read);
2. ``spark``: a fresh driver process (1 GiB, results capped at 1 MiB) runs Nightjar's Spark
   engine, ``score_partition_on_spark``: delta-spark read, mapInArrow, delta-spark write;
3. ``arrow``: a fresh process runs the Arrow engine, ``score_partition`` in the task process
   (delta-rs read, score, delta-rs write).

Reported per path: the scoring seconds and rows/s (measured in the process, around the
call), and the peak RSS of the driver's whole process tree (Python and, for Spark, the
driver JVM; the executors are the workers' children, not the driver's), sampled every
0.2 s. A process whose tree passes ``--rss-limit-gib`` is stopped and reported as not
fitting, rather than left to the kernel's OOM killer.

    python -m bench.spark_cluster --sizes 10000000,50000000
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

from bench.common import print_table, run_measured_child, train_model, write_results

DAY = dt.date(2026, 3, 1)
COMMIT = "0" * 64
SHARED = ("NIGHTJAR_CACHE_DIR", "NIGHTJAR_SPARK_JARS")  # the jars; every other setting is ours


def _generate(size: int) -> None:
    """Child: ``size`` feature rows for ``DAY``, generated and written by the executors."""
    from pyspark.sql import functions as F

    from nightjar.core.datasets import dataset_config
    from nightjar.core.settings import load_settings
    from nightjar.features.definitions import FEATURE_DATE, spec_hash
    from nightjar.io.spark import get_spark, stop_spark
    from nightjar.io.spark_delta import replace_partition_with_delta_spark

    settings = load_settings()
    config = dataset_config(settings)
    spark = get_spark(settings)
    epoch = int(dt.datetime(DAY.year, DAY.month, DAY.day, tzinfo=dt.UTC).timestamp())
    ids = spark.range(size, numPartitions=max(2, size // 1_000_000))
    columns = [
        F.concat(F.lit("e"), F.col("id").cast("string")).alias(config.entity_key),
        F.timestamp_seconds(F.lit(epoch) + F.col("id") % 86400).alias(config.event_time),
        F.lit(DAY).alias(FEATURE_DATE),
        F.lit(COMMIT).alias("lakefs_commit"),
        F.lit(spec_hash(config)).alias("feature_spec"),
    ]
    for seed, (name, spec) in enumerate(config.features.items()):
        if name in config.categorical:
            values = F.array(*(F.lit(v) for v in ("north", "south", "east", "west")))
            columns.append(F.element_at(values, (F.rand(seed) * 4).cast("int") + 1).alias(name))
        else:
            columns.append((F.randn(seed) * 2 + 4 + (spec.min or 0)).alias(name))
    replace_partition_with_delta_spark(
        ids.select(*columns),
        settings.table_uri(config.table_name("features")),
        partition_column=FEATURE_DATE,
        value=DAY,
    )
    print(json.dumps({"rows": size}))
    stop_spark()


def _score(engine: str, model_file: str, categories_file: str) -> None:
    """Child: score ``DAY`` with ``engine``; print the seconds the call took."""
    from nightjar.core.datasets import dataset_config
    from nightjar.core.settings import load_settings
    from nightjar.io.spark import stop_spark
    from nightjar.scoring.scorer import ModelRef, ScoringContext, score_partition

    settings = load_settings()
    config = dataset_config(settings)
    context = ScoringContext(DAY, "bench", f"{DAY}T00:00:00+00:00", dt.datetime(2026, 3, 2))
    started = time.perf_counter()
    rows = score_partition(
        settings,
        config,
        ModelRef(config.model.name, "1", "bench", "champion"),
        context,
        table=f"scores_{engine}",
        categories=json.loads(Path(categories_file).read_text()),
        model_text=Path(model_file).read_text(),
        engine=engine,
    )
    print(json.dumps({"rows": rows, "seconds": time.perf_counter() - started}))
    stop_spark()


def run(sizes: list[int], rss_limit_gib: float) -> list[dict]:
    from nightjar.core.datasets import dataset_config
    from nightjar.core.settings import load_settings
    from nightjar.embedded.spark_cluster import start_cluster

    root = Path(tempfile.mkdtemp(prefix="nightjar-bench-cluster-"))
    base = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NIGHTJAR_") or k in SHARED},
        "NIGHTJAR_HOME": str(root / "home"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "OMP_WAIT_POLICY": "PASSIVE",
        "PYSPARK_PYTHON": sys.executable,
    }
    os.environ.update(base)
    config = dataset_config(load_settings())
    booster, categories = train_model(config)
    model_file, categories_file = root / "model.txt", root / "categories.json"
    model_file.write_text(booster.model_to_string())
    categories_file.write_text(json.dumps(categories))
    cluster = start_cluster(root / "cluster", workers=2, cores=1, memory="2g")
    spark_env = {
        **base,
        "NIGHTJAR_SPARK_MASTER": cluster.master_url,
        "NIGHTJAR_SPARK_WRITER": "delta-spark",
        "NIGHTJAR_SPARK_DRIVER_MEMORY": "1g",
        "NIGHTJAR_SPARK_CONF": json.dumps(
            {"spark.driver.maxResultSize": "1m", "spark.executor.memory": "1500m"}
        ),
    }
    limit = int(rss_limit_gib * 2**30)
    rows_out = []
    try:
        for size in sizes:
            print(f"generating {size:,} feature rows on the cluster", flush=True)
            generated = run_measured_child(
                "bench.spark_cluster", ["_generate", str(size)], spark_env, limit
            )
            if "failed" in generated:
                raise RuntimeError(f"generating {size} rows failed: {generated['failed']}")
            for engine, env in (("arrow", base), ("spark", spark_env)):
                print(f"scoring {size:,} rows with the {engine} engine", flush=True)
                result = run_measured_child(
                    "bench.spark_cluster",
                    ["_score", engine, str(model_file), str(categories_file)],
                    env,
                    limit,
                )
                row = {"rows": size, "engine": engine, "peak_rss_mib": result["peak_rss_mib"]}
                if "failed" in result:
                    row.update(seconds="failed", rows_per_s=result["failed"])
                else:
                    assert result["rows"] == size, result
                    row.update(
                        seconds=round(result["seconds"], 1),
                        rows_per_s=int(size / result["seconds"]),
                        process_wall_s=round(result["wall_s"], 1),
                    )
                rows_out.append(row)
                print(row, flush=True)
                _write(rows_out, rss_limit_gib)  # a run stopped later keeps what it measured
    finally:
        cluster.stop()
    print_table(
        "scoring on a 2-worker standalone cluster (1 core each, driver 1 GiB) vs the Arrow engine",
        rows_out,
        ["rows", "engine", "seconds", "rows_per_s", "process_wall_s", "peak_rss_mib"],
    )
    print("wrote", _write(rows_out, rss_limit_gib))
    return rows_out


def _write(rows_out: list[dict], rss_limit_gib: float) -> Path:
    return write_results(
        "spark_cluster",
        {
            "cluster": {"workers": 2, "cores_per_worker": 1, "driver_memory": "1g"},
            "rss_limit_gib": rss_limit_gib,
            "results": rows_out,
        },
    )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_generate":
        return _generate(int(argv[1]))
    if argv and argv[0] == "_score":
        return _score(*argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000000,50000000", help="rows, comma-separated")
    parser.add_argument(
        "--rss-limit-gib",
        type=float,
        default=16.0,
        help="stop a path whose process tree passes this RSS (default %(default)s)",
    )
    args = parser.parse_args(argv)
    run([int(s) for s in args.sizes.split(",")], args.rss_limit_gib)


if __name__ == "__main__":
    main()
