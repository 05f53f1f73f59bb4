"""The gate panel's reading of the approval log: failed with its checks, awaiting approval,
passed and champion."""

import json

import duckdb
import pandas as pd

from nightjar.ui.dashboard import _gates


def _check(name: str, value: float, threshold: float, passed: bool) -> dict:
    return {"name": name, "value": value, "threshold": threshold, "passed": passed}


def test_each_gate_says_what_became_of_its_version(config):
    log = pd.DataFrame([
        {"run": "challenger-run", "decision": "passed", "at": "2026-12-06 05:13:20",
         "checks": [_check("min_roc_auc", 0.7123456, 0.65, True)]},
        {"run": "strict-run", "decision": "failed", "at": "2026-12-06 05:12:34",
         "checks": [_check("roc_auc_improvement_vs_champion", 7.487970774433528e-06, 0.5, False),
                    _check("max_brier", 0.11, 0.25, True)]},
        {"run": "champion-run", "decision": "passed", "at": "2026-12-06 05:06:16",
         "checks": []},
    ]).assign(
        model_name=config.model.name, checks=lambda f: f["checks"].map(json.dumps),
        champion_version="2", dag_run_id=lambda f: "manual__" + f["run"],
        recorded_at=lambda f: pd.to_datetime(f["at"]), mlflow_run_id=lambda f: f["run"],
    )  # fmt: skip
    connection = duckdb.connect()
    connection.register("approval_log", log)
    gates = _gates(connection, config, {"champion": "champion-run", "challenger": "challenger-run"})
    assert [(g["outcome"], g["verdict"]) for g in gates] == [
        ("awaiting", "passed; awaiting approval as challenger"),
        ("failed", "FAILED: roc_auc_improvement_vs_champion (7.488e-06 vs 0.5)"),
        ("passed", "passed; champion"),
    ]
    assert gates[0]["checks"][0]["value"] == "0.7123"
    assert gates[1]["recorded_at"] == "2026-12-06 05:12" and gates[1]["against"] == "v2"
