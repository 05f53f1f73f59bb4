"""Sources whose key names differ, whose other columns collide, and windows per several
columns: each expressed in the config alone."""

import pandas as pd
import pytest
from pydantic import ValidationError

from nightjar.core.dataset_config import DatasetConfig
from nightjar.features.definitions import compute_features, join_sources

T0 = pd.Timestamp("2026-01-10 09:00")


def _config(config, **bureau) -> DatasetConfig:
    """The demo config plus a bureau source: keyed by cust_id, with its own 'region'."""
    raw = config.model_dump(mode="json")
    raw["gate_policy"] = str(config.gate_policy)
    raw["sources"]["bureau"] = {
        "path": "raw/bureau",
        "columns": {
            "cust_id": {"type": "string"},
            "region": {"type": "string"},
            "score": {"type": "float"},
        },
        "join_on": {"customer_id": "cust_id"},
        "prefix": "bureau_",
        **bureau,
    }
    raw["features"]["bureau_score_x2"] = {
        "definition": {"kind": "expr", "expr": "bureau_score * 2"}
    }
    raw["features"]["prior_in_region_1d"] = {
        "definition": {
            "kind": "window",
            "agg": "count",
            "column": "application_id",
            "partition_by": ["customer_id", "region"],
            "range_days": 1,
        }
    }
    return DatasetConfig.model_validate(raw)


def test_a_mapped_key_a_prefix_and_a_two_column_window(spark, config):
    config = _config(config)
    applications = pd.DataFrame(
        {
            "application_id": ["a1", "a2", "a3"],
            "customer_id": ["c1", "c1", "c1"],
            "event_ts": [T0, T0 + pd.Timedelta(hours=1), T0 + pd.Timedelta(hours=2)],
            "region": ["north", "north", "south"],
            **{c: 1.0 for c in ("income", "loan_amount", "employment_years")},
            **{c: 12 for c in ("age", "term_months", "credit_lines")},
            "product": "card",
        }
    )
    bureau = pd.DataFrame({"cust_id": ["c1"], "region": ["west"], "score": [0.25]})
    frames = {"applications": spark.createDataFrame(applications)}
    frames["bureau"] = spark.createDataFrame(bureau)
    features = (
        compute_features(config, join_sources(config, frames))
        .toPandas()
        .set_index("application_id")
    )
    assert features["bureau_score_x2"].tolist() == [0.5, 0.5, 0.5]
    assert features["region"].tolist() == ["north", "north", "south"]  # not the bureau's
    assert features["prior_in_region_1d"].tolist() == [0.0, 1.0, 0.0]


def test_a_collision_without_a_prefix_is_a_config_error(config):
    with pytest.raises(ValidationError, match="column 'region' is already joined"):
        _config(config, prefix="")


def test_a_mapped_key_missing_on_either_side_is_a_config_error(config):
    with pytest.raises(ValidationError, match="'cust_key' is not one of its columns"):
        _config(config, join_on={"customer_id": "cust_key"})
    with pytest.raises(ValidationError, match="'client_id' is in none of the sources it joins"):
        _config(config, join_on={"client_id": "cust_id"})
