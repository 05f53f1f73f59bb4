"""Nightjar page render time with a year of nightly data (365 scored dates).

Builds the scores, drift and decision tables for 365 nights of 2,000 rows, then renders
the page five times and reports the best and median wall time.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time

from bench.common import print_table, private_home, write_results

NIGHTS, ROWS = 365, 2000


def run() -> dict:
    private_home()
    import numpy as np
    import pyarrow as pa

    from nightjar.core.dataset_config import load_dataset_config
    from nightjar.core.settings import load_settings
    from nightjar.io import delta_tables
    from nightjar.ui.dashboard import render

    settings = load_settings()
    config = load_dataset_config(settings.dataset_config)
    rng = np.random.default_rng(0)
    start = dt.date(2025, 1, 1)
    for i in range(NIGHTS):
        day = start + dt.timedelta(days=i)
        probability = rng.random(ROWS)
        delta_tables.replace_partition(
            settings.table_uri(config.table_name("scores")),
            pa.table(
                {
                    config.entity_key: [f"{day:%Y%m%d}-{j:06d}" for j in range(ROWS)],
                    "probability": probability,
                    "decision": probability > 0.5,
                    "model_version": ["1"] * ROWS,
                    "model_name": [config.model.name] * ROWS,
                    "model_run_id": ["bench"] * ROWS,
                    "lakefs_commit": ["0" * 64] * ROWS,
                    "feature_spec": ["bench"] * ROWS,
                    "dag_run_id": [f"scheduled__{day}"] * ROWS,
                    "score_date": pa.array([day] * ROWS, pa.date32()),
                }
            ),
            partition_column="score_date",
            value=day,
        )
        features = [*config.feature_names, "probability"]
        delta_tables.replace_partition(
            settings.table_uri(config.table_name("drift_metrics")),
            pa.table(
                {
                    "score_date": pa.array([day] * len(features), pa.date32()),
                    "feature": features,
                    "value": rng.random(len(features)) * 0.3,
                    "drifted": rng.random(len(features)) > 0.9,
                }
            ),
            partition_column="score_date",
            value=day,
        )
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        html = render(settings, config, entity=f"{start:%Y%m%d}-000001", day=start)
        timings.append(time.perf_counter() - started)
    rows = [
        {
            "nights": NIGHTS,
            "rows": NIGHTS * ROWS,
            "best_s": round(min(timings), 3),
            "median_s": round(statistics.median(timings), 3),
            "html_kb": len(html) // 1024,
        }
    ]
    print_table("Nightjar page render (in-process, excluding HTTP)", rows, list(rows[0]))
    print("wrote", write_results("dashboard", {"results": rows}))
    return rows[0]


if __name__ == "__main__":
    run()
