"""Run by test_spark_engine_cluster in a fresh process, as a scoring task is: the session
comes from NIGHTJAR_* settings (a standalone master, the Spark scoring engine, a 1 GiB
driver whose results are capped at 1 MiB), and each date is scored on the executors.

    python spark_engine_job.py SPEC_JSON

SPEC_JSON names the model file, its categories, the scores table and the dates (the first
is scored twice: a retry). Prints {"rows": {date: rows}, "collect": <what a collect of one
date's features did>}: the proof that the cap would stop rows coming to the driver.
"""

import datetime as dt
import json
import sys
import time
from pathlib import Path

from nightjar.core.datasets import dataset_config
from nightjar.core.settings import load_settings
from nightjar.io.spark import get_spark, stop_spark
from nightjar.scoring.scorer import ModelRef, ScoringContext, score_partition_on_spark


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    settings = load_settings()
    config = dataset_config(settings)
    model = ModelRef(config.model.name, "7", "run-for-spark-engine", "champion")
    model_text = Path(spec["model_file"]).read_text()
    rows, seconds = {}, []
    started = time.monotonic()
    try:
        for day in [spec["dates"][0], *spec["dates"]]:
            context = ScoringContext(
                dt.date.fromisoformat(day),
                f"scheduled__{day}T00:00:00+00:00",
                f"{day}T00:00:00+00:00",
                dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC) + dt.timedelta(days=1),
            )
            rows[day] = score_partition_on_spark(
                settings,
                config,
                model,
                context,
                table=spec["table"],
                categories=spec["categories"],
                model_text=model_text,
            )
            seconds.append(round(time.monotonic() - started, 1))
        features = get_spark(settings).read.format("delta").load(spec["features_uri"])
        try:
            features.collect()
            collect = "collected"
        except Exception as refused:  # reported to the test, which asserts on it
            collect = str(refused)[:2000]
        seconds.append(round(time.monotonic() - started, 1))
        print(json.dumps({"rows": rows, "collect": collect, "seconds": seconds}))
    finally:
        stop_spark()


if __name__ == "__main__":
    main(sys.argv[1])
