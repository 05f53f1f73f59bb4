"""Run by test_s3a_gateway in a fresh process: a Spark session set up as Nightjar's
``NIGHTJAR_RAW_READER=s3a`` sets it up (hadoop-aws, path-style, the lakeFS keys from
NIGHTJAR_LAKEFS_*), reading through the S3 gateway.

    python s3a_reader.py SPEC_JSON

SPEC_JSON names the repository, a commit, the table folder and a missing path. Prints
what Spark read, as JSON.
"""

import json
import sys
from pathlib import Path

from nightjar.core.settings import load_settings
from nightjar.io.spark import get_spark, stop_spark


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    base = f"s3a://{spec['repository']}/{spec['commit']}"
    spark = get_spark(load_settings())
    try:
        # A folder: the s3a client lists it (ListObjectsV2 with a delimiter), then reads
        # each Parquet file's footer and columns with ranged GETs.
        folder = spark.read.parquet(f"{base}/{spec['table']}")
        # A glob across partitions, and one object named whole (HEAD, then GET).
        globbed = spark.read.parquet(f"{base}/{spec['table']}/date=*/")
        one = spark.read.parquet(f"{base}/{spec['table']}/{spec['one_file']}")
        try:
            spark.read.parquet(f"{base}/{spec['missing']}").count()
            missing = "read"
        except Exception as exc:  # the test checks which error it is
            missing = type(exc).__name__ + ": " + str(exc).splitlines()[0]
        print(
            json.dumps(
                {
                    "folder": sorted(r["n"] for r in folder.collect()),
                    "globbed": globbed.count(),
                    "one": sorted(r["n"] for r in one.collect()),
                    "missing": missing,
                }
            )
        )
    finally:
        stop_spark()


if __name__ == "__main__":
    main(sys.argv[1])
