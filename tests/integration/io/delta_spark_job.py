"""Run by test_delta_spark_cluster in a fresh process, as a Spark job is: the session comes
from NIGHTJAR_* settings (a standalone master, delta-spark, a 1 GiB driver), the rows are
generated on the executors, and delta-spark writes them.

    python delta_spark_job.py write URI DATE ROWS SHIFT COMMIT [--then-count]

prints {"rows": written} and, with --then-count, {"counts": {date: rows}} as delta-spark
reads the table back (one driver for both: each costs a JVM and delta-spark's classes).
"""

import json
import sys

from pyspark.sql import functions as F

from nightjar.core.settings import load_settings
from nightjar.io.spark import get_spark, stop_spark
from nightjar.io.spark_delta import replace_partition_with_delta_spark


def main(uri: str, day: str, rows: str, shift: str, commit: str, *flags: str) -> None:
    spark = get_spark(load_settings())
    try:
        frame = spark.range(int(rows), numPartitions=4).select(
            F.format_string("%s-%08d", F.lit(day), F.col("id")).alias("entity"),
            (F.col("id") * 0.5 + float(shift)).alias("amount"),
            F.when(F.col("id") % 2 == 0, "north").otherwise("south").alias("region"),
            F.lit(day).cast("date").alias("feature_date"),
        )
        written = replace_partition_with_delta_spark(
            frame,
            uri,
            partition_column="feature_date",
            value=day,
            commit_metadata={"nightjar.lakefs_commit": commit},
        )
        result: dict = {"rows": written}
        if "--then-count" in flags:
            counts = spark.read.format("delta").load(uri).groupBy("feature_date").count()
            result["counts"] = {str(row[0]): row[1] for row in counts.collect()}
        print(json.dumps(result))
    finally:
        stop_spark()


if __name__ == "__main__":
    assert sys.argv[1] == "write", __doc__
    main(*sys.argv[2:])
