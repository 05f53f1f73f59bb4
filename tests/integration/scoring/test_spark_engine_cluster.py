"""The Spark scoring engine on a real standalone cluster (a master and two 1-core workers):
the executors read the features partition with delta-spark, score it with mapInArrow and
write it with delta-spark, while the driver, capped at 1 GiB with its results capped at
1 MiB, never holds the rows.

Slow (about 2 minutes on 2 cores, most of it a driver and two executors starting and
loading delta-spark), so marked ``slow``. Needs the pinned jars: ``make install`` fetches them.
"""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from bench.common import synthetic_features, train_model
from nightjar.core.datasets import dataset_config
from nightjar.core.settings import Settings
from nightjar.embedded.spark_cluster import SHORT_LIVED_CONF
from nightjar.features.definitions import FEATURE_DATE, spec_hash
from nightjar.io import delta_tables
from nightjar.scoring.scorer import ModelRef, ScoringContext, score_table

pytestmark = pytest.mark.slow
JOB = Path(__file__).with_name("spark_engine_job.py")
DATES = [dt.date(2026, 6, 1), dt.date(2026, 6, 2)]
ROWS = 60_000  # per date: about 12 MB in Arrow, 12 times the driver's result cap
COMMIT = "e" * 64


def _features(config, day: dt.date, seed: int) -> pa.Table:
    frame = synthetic_features(config, ROWS, seed=seed)
    frame[config.entity_key] = f"{day}-" + frame[config.entity_key]
    frame[FEATURE_DATE] = day
    frame["lakefs_commit"] = COMMIT
    frame["feature_spec"] = spec_hash(config)
    return pa.Table.from_pandas(frame, preserve_index=False)


def test_spark_engine_scores_a_backfill_on_the_cluster_without_rows_in_the_driver(
    spark_cluster, tmp_path
):
    home = tmp_path / "home"
    settings = Settings(home=home)
    config = dataset_config(settings)
    features_uri = settings.table_uri(config.table_name("features"))
    for seed, day in enumerate(DATES):  # delta-rs writes the features, as the embedded path does
        delta_tables.replace_partition(
            features_uri, _features(config, day, seed), partition_column=FEATURE_DATE, value=day
        )
    booster, categories = train_model(config, rows=20_000)
    model_file = tmp_path / "model.txt"
    model_file.write_text(booster.model_to_string())
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "model_file": str(model_file),
                "categories": categories,
                "table": "scores_on_cluster",
                "dates": [str(d) for d in DATES],
                "features_uri": features_uri,
            }
        )
    )
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ["HOME"],
        "NIGHTJAR_HOME": str(home),
        "NIGHTJAR_SPARK_MASTER": spark_cluster.master_url,
        "NIGHTJAR_SCORING_ENGINE": "spark",
        "NIGHTJAR_SPARK_DRIVER_MEMORY": "1g",
        "NIGHTJAR_SPARK_CONF": json.dumps({**SHORT_LIVED_CONF, "spark.driver.maxResultSize": "1m"}),
        "PYSPARK_PYTHON": sys.executable,
        "OMP_WAIT_POLICY": "PASSIVE",
        **{k: os.environ[k] for k in ("JAVA_HOME", "NIGHTJAR_CACHE_DIR") if k in os.environ},
    }
    done = subprocess.run(
        [sys.executable, str(JOB), str(spec)], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print("seconds since the session started, after each date and the collect:", result["seconds"])

    # The cap bites: collecting one date's features is refused, so scoring did not collect.
    assert "maxResultSize" in result["collect"], result["collect"]
    assert result["rows"] == {str(d): ROWS for d in DATES}

    scores_uri = settings.table_uri("scores_on_cluster")
    scores = delta_tables.read(scores_uri)
    per_date = scores.group_by("score_date").aggregate([(config.entity_key, "count_distinct")])
    assert {
        str(r["score_date"]): r[f"{config.entity_key}_count_distinct"] for r in per_date.to_pylist()
    } == {str(d): ROWS for d in DATES}  # exact partitions: the retried date is not doubled
    assert scores.num_rows == ROWS * len(DATES)

    # Identical to the Arrow engine's scores for the same rows and model.
    model = ModelRef(config.model.name, "7", "run-for-spark-engine", "champion")
    day = DATES[1]
    context = ScoringContext(day, "arrow", f"{day}T00:00:00+00:00", dt.datetime(2026, 6, 3))
    by_arrow = score_table(
        settings,
        config,
        model,
        context,
        categories=categories,
        model_text=model_file.read_text(),
    ).sort_by(config.entity_key)
    by_spark = (
        scores.filter(pc.equal(scores.column("score_date"), pa.scalar(day)))
        .sort_by(config.entity_key)
        .select(by_arrow.column_names)
    )
    for column in (config.entity_key, "probability", "decision", "lakefs_commit"):
        assert by_spark.column(column).equals(by_arrow.column(column)), column

    # Each commit says which engine scored the partition, and from which lakeFS commit.
    newest = delta_tables.open_table(scores_uri).history(1)[0]
    recorded = json.loads(newest["userMetadata"])
    assert recorded["nightjar.scoring_engine"] == "spark"
    assert recorded[delta_tables.LAKEFS_COMMIT_KEY] == COMMIT
    assert recorded["nightjar.dag_run_id"] == f"scheduled__{DATES[-1]}T00:00:00+00:00"
