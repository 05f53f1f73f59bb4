"""Feature-job throughput: Nightjar's feature path vs Spark compute alone, on ~1M raw rows.

Setup (not timed): a private home, the lakeFS stand-in (``EmbeddedStack``), and ``--rows``
seeded demo applications (``demo_data.applications_for``; ``--days`` daily partitions,
10 customers per daily row, as in the demo) ingested onto lakeFS main with Nightjar's
``ingest``. Nothing is ingested before the first day, so the history the window features
read is empty and raw rows in = feature rows out. A warm-up ``run_feature_job`` on a
separate one-day repository starts the JVM and loads pandera and delta-rs first; the
Spark session itself is started before any timer.

Three paths over the same pinned lakeFS commit, with the demo config
(``credit_default.yaml``):

1. nightjar_job: ``run_feature_job`` as the training DAG calls it (every date of the
   range, written to ``training_features_<dataset>`` partition ``training_run=bench-job``);
   one number: this is what the nightly/retrain task pays.
2. nightjar_staged: the same work, called step by step through the public functions
   ``run_feature_job`` is made of, timed per stage:
   - read: ``raw_tables.read_partitions`` from the stand-in (HTTP) + ``Table.to_pandas``;
   - validate_raw: ``feature_job.validate_source`` (pandera, pandas backend, + freshness)
     (the quarantine write is skipped: the demo data has no bad rows, which the benchmark
     asserts, and the job then writes nothing either);
   - compute: ``spark.createDataFrame`` + ``join_sources`` + ``compute_features`` + the
     date filter, materialised once with ``cache()`` + ``count()`` (building the cache
     costs a little more than computing alone, see path 3);
   - validate_features: pandera (pyspark backend) ``validate_features`` on that cached
     frame;
   - write_collect: lineage columns + ``toArrow`` to the driver + an Arrow sort, as the job;
   - write_delta: ``delta_tables.replace_partition`` (delta-rs predicate overwrite).
   The job caches the validated frame the same way, so the two paths should agree; the
   stages say where the job's time goes.
3. spark_compute_only: read (as above, no validation) + the same ``compute_features``
   code run to completion with Spark's ``noop`` sink: no pandera, no collect, no Delta.

Why not pandas or DuckDB as the alternative: only the ``expr`` features are SQL strings
(in Spark's dialect); ``monthly_payment_ratio`` is a Python transform that builds Spark
Columns and the 90-day features are Spark windows (``rangeBetween`` on epoch seconds), so
either engine would need the feature logic re-implemented. Path 3 is the alternative
instead: it shows what validation + collect + Delta write add to the same Spark compute.

rows_per_s is rows / seconds of the stage or path; share is the stage's part of its
path's total; spark_jobs counts the Spark jobs the stage ran (pandera's pyspark backend
runs one per null/min/max rule; adaptive execution adds one per shuffle stage);
x_compute_only is a path's rows/s over spark_compute_only's. peak_rss_mib is the Python
driver only (Spark's JVM is a separate process). Spark runs as configured by the settings
(``local[2]``, 2g driver by default), as the embedded stack runs it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import socket
from contextlib import contextmanager

from bench.common import peak_rss_mib, print_table, private_home, timed, write_results

FIRST_DAY = dt.date(2026, 1, 1)
WARMUP_REPO = "bench-warmup"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(rows: int = 1_000_000, days: int = 25) -> dict:
    private_home()
    os.environ["NIGHTJAR_LAKEFS_STANDIN_PORT"] = str(_free_port())

    from nightjar.core.datasets import dataset_config
    from nightjar.core.settings import load_settings
    from nightjar.core.vocabulary import FEATURE_SPEC, LAKEFS_COMMIT
    from nightjar.embedded import demo_data
    from nightjar.embedded.supervisor import EmbeddedStack
    from nightjar.features.definitions import (
        FEATURE_DATE,
        compute_features,
        join_sources,
        spec_hash,
    )
    from nightjar.features.job import run_feature_job, validate_source
    from nightjar.ingest.landing import Batch, ingest, protect_main
    from nightjar.ingest.validation import PARTITION_COLUMN, validate_features
    from nightjar.io import delta_tables, raw_tables, snapshots
    from nightjar.io.lakefs_client import make_client
    from nightjar.io.spark import get_spark
    from nightjar.training.trainer import TRAINING_RUN

    settings = load_settings()
    config = dataset_config(settings)
    table = config.table_name("training_features")
    uri = settings.table_uri(table)
    per_day = -(-rows // days)
    spec = demo_data.DemoSpec(rows_per_day=per_day, customers=10 * per_day)
    start, end = FIRST_DAY, FIRST_DAY + dt.timedelta(days=days - 1)
    sources = [name for name in config.sources if name != config.label.source]

    def land(repository: str, day_list: list[dt.date], demo: demo_data.DemoSpec):
        """Ingest the demo applications for ``day_list``; return the pinned snapshot."""
        client = make_client(settings)
        snapshots.ensure_repository(client, repository, f"local://{repository}")
        protect_main(client, repository)
        batches = [Batch("applications", d, demo_data.applications_for(d, demo)) for d in day_list]
        ingest(client, config, repository, "ingest-bench", batches, message="bench", metadata={})
        commit = snapshots.resolve_commit(client, repository, snapshots.MAIN)
        return snapshots.Snapshot(repository=repository, branch="", commit_id=commit)

    def read(snapshot, name: str):
        """Raw rows of one source for the job's range (history included), as pandas."""
        history_start = start - dt.timedelta(days=config.history_days)
        arrow = raw_tables.read_partitions(
            make_client(settings),
            snapshot.repository,
            snapshot.commit_id,
            config.sources[name].path,
            history_start,
            end,
        )
        return arrow.to_pandas()

    def feature_frame(spark, valid: dict):
        frames = {name: spark.createDataFrame(frame) for name, frame in valid.items()}
        features = compute_features(config, join_sources(config, frames))
        from pyspark.sql import functions as F

        return features.where(F.col(FEATURE_DATE).between(F.lit(start), F.lit(end)))

    with EmbeddedStack(settings):
        spark = get_spark(settings)
        warm_day = FIRST_DAY - dt.timedelta(days=365)
        warm = land(WARMUP_REPO, [warm_day], demo_data.DemoSpec(rows_per_day=2000))
        run_feature_job(
            settings,
            config,
            warm,
            start=warm_day,
            end=warm_day,
            table=table,
            partition_column=TRAINING_RUN,
            partition_value="bench-warmup",
        )
        day_list = [start + dt.timedelta(days=i) for i in range(days)]
        snapshot = land(settings.lakefs_repository, day_list, spec)
        total_rows = per_day * days
        timings: dict[str, dict[str, float]] = {}
        jobs: dict[str, dict[str, int]] = {}
        failures: dict[str, str] = {}
        current: list[str] = []

        @contextmanager
        def stage(key: str):
            """Time one stage and count the Spark jobs it runs (one job group per stage)."""
            path_name = current[-1]
            group = f"bench:{path_name}:{key}"
            spark.sparkContext.setJobGroup(group, group)
            try:
                with timed(timings[path_name], key):
                    yield
            finally:
                ids = spark.sparkContext.statusTracker().getJobIdsForGroup(group)
                jobs[path_name][key] = len(ids)
                spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)

        def nightjar_job() -> None:
            with stage("total"):
                result = run_feature_job(
                    settings,
                    config,
                    snapshot,
                    start=start,
                    end=end,
                    table=table,
                    partition_column=TRAINING_RUN,
                    partition_value="bench-job",
                )
            assert result.rows == total_rows and result.quarantined == 0, result

        def nightjar_staged() -> None:
            with stage("read"):
                raw = {name: read(snapshot, name) for name in sources}
            with stage("validate_raw"):
                valid = {}
                for name in sources:
                    batch = validate_source(
                        config, name, raw.pop(name), start, end, snapshot.commit_id
                    )
                    assert batch.quarantined.empty, "bench data must not need a quarantine write"
                    valid[name] = batch.valid.drop(columns=[PARTITION_COLUMN])
            with stage("compute"):
                features = feature_frame(spark, valid).cache()
                count = features.count()
            del valid
            assert count == total_rows, count
            with stage("validate_features"):
                validate_features(config, features)
            from pyspark.sql import functions as F

            with stage("write_collect"):
                data = (
                    features.withColumn(TRAINING_RUN, F.lit("bench-staged"))
                    .withColumn(LAKEFS_COMMIT, F.lit(snapshot.commit_id))
                    .withColumn(FEATURE_SPEC, F.lit(spec_hash(config)))
                    .toArrow()
                    .sort_by([(FEATURE_DATE, "ascending"), (config.entity_key, "ascending")])
                )
            with stage("write_delta"):
                delta_tables.replace_partition(
                    uri, data, partition_column=TRAINING_RUN, value="bench-staged"
                )
            features.unpersist()

        def spark_compute_only() -> None:
            with stage("read"):
                raw = {
                    name: read(snapshot, name).drop(columns=[PARTITION_COLUMN]) for name in sources
                }
            with stage("compute"):
                feature_frame(spark, raw).write.format("noop").mode("overwrite").save()

        for name, path in (
            ("nightjar_job", nightjar_job),
            ("nightjar_staged", nightjar_staged),
            ("spark_compute_only", spark_compute_only),
        ):
            gc.collect()
            timings[name], jobs[name] = {}, {}
            current.append(name)
            try:
                path()
                if "total" not in timings[name]:
                    timings[name]["total"] = sum(timings[name].values())
                    jobs[name]["total"] = sum(jobs[name].values())
            except Exception as exc:
                failures[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"

    stored = delta_tables.read(uri, columns=[TRAINING_RUN])
    written = {
        run_key: int(n)
        for run_key, n in stored.to_pandas()[TRAINING_RUN].value_counts().items()
        if run_key != "bench-warmup"
    }
    reference = timings.get("spark_compute_only", {}).get("total")
    rows_out = []
    for name, stages in timings.items():
        if name in failures:
            failed = {"seconds": "failed", "rows_per_s": failures[name]}
            rows_out.append({"rows": total_rows, "path": name, **failed})
            continue
        for stage, seconds in stages.items():
            row = {
                "rows": total_rows,
                "path": name,
                "stage": stage,
                "seconds": round(seconds, 2),
                "rows_per_s": int(total_rows / seconds),
                "spark_jobs": jobs[name].get(stage, 0),
                "share": f"{seconds / stages['total']:.0%}",
            }
            if stage == "total" and reference:
                row["x_compute_only"] = round(reference / seconds, 2)
            rows_out.append(row)
    print_table(
        f"feature job throughput, {total_rows:,} raw rows over {days} days "
        "(rows/s; x_compute_only = rows/s vs spark_compute_only)",
        rows_out,
        ["rows", "path", "stage", "seconds", "rows_per_s", "share", "spark_jobs", "x_compute_only"],
    )
    result = {
        "rows": total_rows,
        "days": days,
        "spark_master": settings.spark_master,
        "spark_driver_memory": settings.spark_driver_memory,
        "rows_written": written,
        "results": rows_out,
        "peak_rss_mib": peak_rss_mib(),
    }
    print(f"rows written: {written}; Python driver peak RSS {result['peak_rss_mib']:.0f} MiB")
    print("wrote", write_results("features", result))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="raw rows in the job's range")
    parser.add_argument("--days", type=int, default=25, help="daily partitions they span")
    args = parser.parse_args(argv)
    run(args.rows, args.days)


if __name__ == "__main__":
    main()
