from pathlib import Path

import pytest
import yaml

from nightjar.core.dataset_config import load_dataset_config
from nightjar.core.errors import ConfigError
from nightjar.core.settings import PACKAGED_CONFIGS
from nightjar.features.definitions import spec_hash

DEMO = PACKAGED_CONFIGS / "datasets" / "credit_default.yaml"


def _write(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load(DEMO.read_text())
    mutate(raw)
    policies = tmp_path / "policies"
    policies.mkdir(exist_ok=True)
    (policies / "default.yaml").write_text(
        (DEMO.parents[1] / "policies" / "default.yaml").read_text()
    )
    raw["gate_policy"] = "policies/default.yaml"
    path = tmp_path / "dataset.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _bureau(join_on: list[str]) -> dict:
    """An enrichment source joined to the applications."""
    columns = {"customer_id": {"type": "string"}, "score": {"type": "float"}}
    return {"path": "raw/bureau", "columns": columns, "join_on": join_on}


def test_demo_config_loads(config):
    assert config.name == "credit_default"
    assert config.history_days == 90
    assert len(spec_hash(config)) == 16


def test_spec_hash_changes_with_a_feature_definition(tmp_path, config):
    path = _write(
        tmp_path,
        lambda raw: raw["features"]["age"]["definition"].update(expr="cast(age as double) + 1"),
    )
    assert spec_hash(load_dataset_config(path)) != spec_hash(config)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda r: r["features"]["loan_to_income"].update(
                definition={
                    "kind": "window",
                    "agg": "sum",
                    "column": "nope",
                    "partition_by": "customer_id",
                    "range_days": 3,
                }
            ),
            "features.loan_to_income: column 'nope' does not exist",
        ),
        (lambda r: r.update(entity_key="missing_id"), "column 'missing_id' does not exist"),
        (lambda r: r.update(base_source="nope"), "base_source 'nope' is not one of sources"),
        (lambda r: r["model"].update(threshold=2), "model.threshold"),
        (lambda r: r.update(unknown_field=1), "unknown_field"),
        (lambda r: r.update(categorical=["nope"]), "categorical column 'nope' is not a feature"),
        (
            lambda r: r["features"].update(
                defaulted={"definition": {"kind": "expr", "expr": "income"}}
            ),
            "may not be named after the label",
        ),
        (lambda r: r.update(name="bad name"), "invalid identifier"),
        (
            lambda r: r["features"]["loan_to_income"]["definition"].update(
                expr="loan_amount / (incme + 1.0)"
            ),
            "features.loan_to_income: expr 'loan_amount / (incme + 1.0)' uses column 'incme', "
            "which no source declares; did you mean 'income'?",
        ),
        (
            lambda r: r["features"]["loan_to_income"]["definition"].update(
                expr="lg(loan_amount) - percentile_approx(income, 0.5) OVER ()"
            ),
            "calls lg(), which Spark SQL does not have",
        ),
        (
            lambda r: r["features"]["loan_to_income"]["definition"].update(expr="log1p("),
            "features.loan_to_income: expr 'log1p(' is not valid Spark SQL",
        ),
        (
            lambda r: r["sources"].update(bureau=_bureau(join_on=["customer_key"])),
            "sources.bureau.join_on: 'customer_key' is not one of its columns",
        ),
        (
            lambda r: r["sources"].update(bureau=_bureau(join_on=["score"])),
            "sources.bureau.join_on: 'score' is in none of the sources it joins",
        ),
        (lambda r: r.update(timezone="Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_bad_config_names_field_and_problem(tmp_path, mutate, message):
    with pytest.raises(ConfigError, match="invalid dataset config") as error:
        load_dataset_config(_write(tmp_path, mutate))
    assert message in str(error.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_dataset_config(tmp_path / "nope.yaml")
