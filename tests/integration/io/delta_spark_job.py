"""Run by test_delta_spark_cluster in a fresh process, as a Spark job is: the session comes
from NIGHTJAR_* settings (a standalone master, delta-spark, a 1 GiB driver), the rows are
generated on the executors, and delta-spark writes them.

    python delta_spark_job.py write URI DATE ROWS SHIFT COMMIT [--then-count]
    python delta_spark_job.py write-concurrently URI DATE DATE ROWS

``write`` prints {"rows": written} and, with --then-count, {"counts": {date: rows}} as
delta-spark reads the table back (one driver for both: each costs a JVM and delta-spark's
classes). ``write-concurrently`` writes the two dates into a table that does not exist
yet from two threads at once, as concurrent task runs do, and prints {"rows": [written,
written], "counts": ...}.
"""

import json
import sys
from concurrent.futures import ThreadPoolExecutor

from pyspark.sql import functions as F

from nightjar.core.settings import load_settings
from nightjar.io.spark import get_spark, stop_spark
from nightjar.io.spark_delta import replace_partition_with_delta_spark


def _rows(spark, day: str, rows: int, shift: float):
    return spark.range(rows, numPartitions=4).select(
        F.format_string("%s-%08d", F.lit(day), F.col("id")).alias("entity"),
        (F.col("id") * 0.5 + shift).alias("amount"),
        F.when(F.col("id") % 2 == 0, "north").otherwise("south").alias("region"),
        F.lit(day).cast("date").alias("feature_date"),
    )


def _write(spark, uri: str, day: str, rows: int, shift: float, commit: str) -> int:
    return replace_partition_with_delta_spark(
        _rows(spark, day, rows, shift),
        uri,
        partition_column="feature_date",
        value=day,
        commit_metadata={"nightjar.lakefs_commit": commit},
    )


def _counts(spark, uri: str) -> dict[str, int]:
    counts = spark.read.format("delta").load(uri).groupBy("feature_date").count()
    return {str(row[0]): row[1] for row in counts.collect()}


def main(command: str, uri: str, *args: str) -> None:
    spark = get_spark(load_settings())
    try:
        if command == "write":
            day, rows, shift, commit, *flags = args
            result: dict = {"rows": _write(spark, uri, day, int(rows), float(shift), commit)}
            if "--then-count" in flags:
                result["counts"] = _counts(spark, uri)
        else:
            first, second, rows = args
            with ThreadPoolExecutor(2) as pool:
                written = list(
                    pool.map(
                        lambda day: _write(spark, uri, day, int(rows), 0.0, "e" * 40),
                        [first, second],
                    )
                )
            result = {"rows": written, "counts": _counts(spark, uri)}
        print(json.dumps(result))
    finally:
        stop_spark()


if __name__ == "__main__":
    assert sys.argv[1] in ("write", "write-concurrently"), __doc__
    main(*sys.argv[1:])
