"""A scored world without lakeFS: real Spark features over demo data, a real LightGBM model.

The scored world is used by the scoring tests, which exercise the Delta side (idempotency,
concurrency, crash safety) on their own.
"""

import datetime as dt

import pyarrow as pa
import pytest

from nightjar.embedded import demo_data
from nightjar.features.definitions import FEATURE_DATE, compute_features, join_sources, spec_hash
from nightjar.io import delta_tables

DAYS = [dt.date(2026, 2, 1) + dt.timedelta(days=i) for i in range(30)]


@pytest.fixture(scope="session")
def scoring_world(settings, config, spark):
    """Feature partitions for ``DAYS`` in the warehouse, and a model to score them with."""
    import pandas as pd

    from nightjar.training.trainer import fit

    spec = demo_data.DemoSpec(rows_per_day=600, customers=3000)
    apps = pd.concat([demo_data.applications_for(d, spec) for d in DAYS], ignore_index=True)
    labels = pd.concat([demo_data.labels_for(d, spec) for d in DAYS], ignore_index=True)
    features = compute_features(
        config, join_sources(config, {"applications": spark.createDataFrame(apps)})
    ).toPandas()
    features["lakefs_commit"] = "c" * 64
    features["feature_spec"] = spec_hash(config)
    uri = settings.table_uri(config.table_name("features"))
    for day in DAYS:
        part = features[features[FEATURE_DATE] == day]
        delta_tables.replace_partition(
            uri,
            pa.Table.from_pandas(part, preserve_index=False),
            partition_column=FEATURE_DATE,
            value=day,
        )
    frame = features.merge(labels, on=config.entity_key)
    booster, categories = fit(
        config, frame[frame[FEATURE_DATE] < DAYS[6]], frame[frame[FEATURE_DATE] >= DAYS[6]]
    )
    counts = features.groupby(FEATURE_DATE).size().to_dict()
    return {"model_text": booster.model_to_string(), "categories": categories, "rows": counts}
