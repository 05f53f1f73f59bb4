"""Run by test_s3a_feature_job in a fresh process, as a feature task is: the session
comes from NIGHTJAR_* settings (the s3a reader, delta-spark, results capped at 1 MiB),
and the executors read the raw objects through the lakeFS stand-in's S3 gateway.

    python s3a_feature_job.py SPEC_JSON

Prints {"good": <the job's result>, "bad": <the refusal's message>}.
"""

import dataclasses
import datetime as dt
import json
import sys
from pathlib import Path

from nightjar.core.datasets import dataset_config
from nightjar.core.errors import DataValidationError
from nightjar.core.settings import load_settings
from nightjar.features.definitions import FEATURE_DATE
from nightjar.features.job import run_feature_job
from nightjar.io.snapshots import Snapshot
from nightjar.io.spark import stop_spark


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    settings = load_settings()
    config = dataset_config(settings)
    day = dt.date.fromisoformat(spec["day"])

    def job(commit: str):
        return run_feature_job(
            settings,
            config,
            Snapshot(spec["repository"], "main", commit),
            start=day,
            end=day,
            table=config.table_name("features"),
            partition_column=FEATURE_DATE,
            partition_value=day,
        )

    try:
        good = dataclasses.asdict(job(spec["good"]))
        try:
            job(spec["bad"])
            bad = "accepted"
        except DataValidationError as refused:
            bad = str(refused)
        print(json.dumps({"good": good, "bad": bad}))
    finally:
        stop_spark()


if __name__ == "__main__":
    main(sys.argv[1])
