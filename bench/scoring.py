"""Scoring throughput: Nightjar's path vs mlflow.pyfunc.spark_udf vs bare Booster.predict.

All three score the same rows with the same model:
1. nightjar: Delta features partition -> encode + predict in Arrow batches -> lineage
   columns -> atomic Delta partition overwrite (the nightly job's hot path, both the
   in-driver engine and the Spark mapInArrow engine);
2. spark_udf: mlflow.pyfunc.spark_udf(env_manager="local") over a Spark frame of the same
   encoded rows, writing the same output through Arrow to Delta;
3. bare: Booster.predict on an in-memory numpy array: the compute limit.
"""

from __future__ import annotations

import argparse
import datetime as dt

from bench.common import (
    peak_rss_mib,
    print_table,
    private_home,
    synthetic_features,
    timed,
    train_model,
    write_results,
)


def run(sizes: list[int]) -> dict:
    private_home()
    import mlflow
    import pyarrow as pa

    from nightjar.core.datasets import dataset_config
    from nightjar.core.settings import load_settings
    from nightjar.features.definitions import spec_hash
    from nightjar.io import delta_tables
    from nightjar.io.spark import get_spark
    from nightjar.io.tracking import ensure_experiment, fluent
    from nightjar.scoring.scorer import ModelRef, ScoringContext, score_partition
    from nightjar.training.model_inputs import encode

    # One session for both Spark paths, with delta-spark, which the Spark engine reads and
    # writes with; each call below names its engine.
    settings = load_settings().model_copy(update={"scoring_engine": "spark"})
    config = dataset_config(settings)
    booster, categories = train_model(config)
    model_text = booster.model_to_string()
    # Under home, in its own experiment: the Default one's artifacts go to ./mlruns.
    experiment_id = ensure_experiment(settings, "bench-scoring")
    with fluent(settings), mlflow.start_run(experiment_id=experiment_id) as run:
        info = mlflow.lightgbm.log_model(booster, name="model")
    spark = get_spark(settings)
    model = ModelRef(config.model.name, "1", run.info.run_id, "champion")
    rows_out = []
    for size in sizes:
        features = synthetic_features(config, size)
        features["lakefs_commit"] = "0" * 64
        features["feature_spec"] = spec_hash(config)
        delta_tables.replace_partition(
            settings.table_uri(config.table_name("features")),
            pa.Table.from_pandas(features, preserve_index=False),
            partition_column="feature_date",
            value=dt.date(2026, 3, 1),
        )
        context = ScoringContext(
            dt.date(2026, 3, 1),
            "bench",
            "2026-03-01T00:00:00+00:00",
            dt.datetime(2026, 3, 2, tzinfo=dt.UTC),
        )
        timings: dict[str, float] = {}
        failures: dict[str, str] = {}

        def attempt(key: str, fn) -> None:
            """Time one path; a path that fails (e.g. out of memory) is reported, not fatal."""
            try:
                with timed(timings, key):
                    fn()
            except Exception as exc:
                timings.pop(key, None)
                failures[key] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"

        def nightjar(engine: str) -> None:
            score_partition(
                settings,
                config,
                model,
                context,
                table=f"scores_{engine}",
                categories=categories,
                model_text=model_text,
                engine=engine,
            )

        for engine in ("arrow", "spark"):
            attempt(f"nightjar_{engine}_warmup", lambda e=engine: nightjar(e))
            timings.pop(f"nightjar_{engine}_warmup", None)
            attempt(f"nightjar_{engine}", lambda e=engine: nightjar(e))
        matrix = encode(config, features, categories)
        attempt("bare_predict", lambda: booster.predict(matrix.to_numpy()))

        def spark_udf() -> None:
            with fluent(settings):
                udf = mlflow.pyfunc.spark_udf(spark, info.model_uri, env_manager="local")
            frame = spark.createDataFrame(
                matrix.assign(**{config.entity_key: features[config.entity_key]})
            )
            scored = frame.withColumn("probability", udf(*config.feature_names)).toArrow()
            delta_tables.append(settings.table_uri("scores_spark_udf"), scored)

        attempt("spark_udf", spark_udf)
        for key, reason in failures.items():
            if not key.endswith("_warmup"):
                rows_out.append(
                    {"rows": size, "path": key, "seconds": "failed", "rows_per_s": reason}
                )
        for key, seconds in timings.items():
            rows_out.append(
                {
                    "rows": size,
                    "path": key,
                    "seconds": round(seconds, 3),
                    "rows_per_s": int(size / seconds),
                }
            )
    by_size = {}
    for row in rows_out:
        if isinstance(row["rows_per_s"], int):
            by_size.setdefault(row["rows"], {})[row["path"]] = row["rows_per_s"]
    for row in rows_out:
        ref = by_size.get(row["rows"], {})
        if isinstance(row["rows_per_s"], int):
            for name, key in (("x_spark_udf", "spark_udf"), ("x_bare", "bare_predict")):
                row[name] = round(row["rows_per_s"] / ref[key], 2) if key in ref else "-"
    print_table(
        "scoring throughput (rows/s; ratios vs spark_udf and bare predict)",
        rows_out,
        ["rows", "path", "seconds", "rows_per_s", "x_spark_udf", "x_bare"],
    )
    result = {"results": rows_out, "peak_rss_mib": peak_rss_mib()}
    print("wrote", write_results("scoring", result))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000000", help="comma-separated row counts")
    args = parser.parse_args(argv)
    run([int(s) for s in args.sizes.split(",")])


if __name__ == "__main__":
    main()
