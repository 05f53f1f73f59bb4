"""Nightjar page render time with a year of nightly data (365 scored dates).

Builds the scores, features, drift and decision tables for ``--nights`` nights of
``--rows`` rows each (the same rows every night, dated anew: building them is setup, not
what is measured), then renders the page five times without and five times with an
entity and date (the lineage lookup and chain), and reports the best and median wall
time. The page reads the grid's row counts and lineage values from the Delta logs, and
the charts' nights from the nightly summary the score task writes (``nightly_summary``,
written here the same way), so its time should not grow with the rows. The same renders
then run with the summary table set aside, so the charts' nights are aggregated from the
scores (the page's fallback, and what it did before the summary existed): the
comparison, in one run.

Then the overview (``/nightjar/``) of ``--datasets`` datasets: copies of the demo's
config under other names whose tables are the first one's (symlinked folders: the same
year of Delta logs, not five times the disk), with the lakeFS stand-in up so each
dataset's raw partitions on main are listed as the page lists them.

    python -m bench.dashboard --nights 365 --rows 1000000 --datasets 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from pathlib import Path

from bench.common import print_table, private_home, write_results


def _night_tables(config, rows: int, rng):
    """The columns every night shares, built once."""
    import pyarrow as pa

    probability = rng.random(rows)
    entities = pa.array([f"e{j:09d}" for j in range(rows)])
    scores = {
        config.entity_key: entities,
        "probability": pa.array(probability),
        "decision": pa.array(probability > 0.5),
        "model_version": pa.repeat(pa.scalar("1"), rows),
        "model_name": pa.repeat(pa.scalar(config.model.name), rows),
        "model_run_id": pa.repeat(pa.scalar("bench"), rows),
        "lakefs_commit": pa.repeat(pa.scalar("0" * 64), rows),
        "feature_spec": pa.repeat(pa.scalar("bench"), rows),
        "model_alias": pa.repeat(pa.scalar("champion"), rows),
        "scored_at": pa.repeat(pa.scalar(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)), rows),
    }
    features = {
        config.entity_key: entities,
        "lakefs_commit": pa.repeat(pa.scalar("0" * 64), rows),
        **{name: pa.array(rng.random(rows)) for name in config.feature_names[:3]},
    }
    return scores, features


def _overview(settings, config, datasets: int) -> list[dict]:
    """Best and median of 5 renders of the overview of ``datasets`` datasets."""
    from nightjar.core.datasets import Datasets
    from nightjar.embedded.ports import free_port
    from nightjar.embedded.supervisor import EmbeddedStack
    from nightjar.ui import overview

    settings = settings.model_copy(update={"lakefs_standin_port": free_port()})
    configs = {config.name: config}
    for i in range(1, datasets):
        name = f"{config.name}_{i}"
        copy = config.model_copy(
            update={"name": name, "model": config.model.model_copy(update={"name": name})}
        )
        for kind in ("scores", "features", "drift_metrics", "nightly_summary"):
            table = Path(settings.table_uri(config.table_name(kind)))
            if table.exists():
                Path(settings.table_uri(copy.table_name(kind))).symlink_to(table)
        configs[name] = copy
    with EmbeddedStack(settings):
        timings, html = [], ""
        for _ in range(5):
            started = time.perf_counter()
            html = overview.render(settings, Datasets(configs=configs))
            timings.append(time.perf_counter() - started)
    return [
        {
            "page": f"overview of {datasets} datasets",
            "best_s": round(min(timings), 3),
            "median_s": round(statistics.median(timings), 3),
            "html_kb": len(html) // 1024,
        }
    ]


def run(nights: int, rows: int, datasets: int = 1) -> dict:
    private_home()
    import numpy as np
    import pyarrow as pa

    from nightjar.core.datasets import dataset_config
    from nightjar.core.settings import load_settings
    from nightjar.io import delta_tables
    from nightjar.scoring import nightly_summary
    from nightjar.ui.dashboard import render

    settings = load_settings()
    config = dataset_config(settings)
    rng = np.random.default_rng(0)
    scores, features = _night_tables(config, rows, rng)
    start = dt.date(2025, 1, 1)
    setup = time.perf_counter()
    for i in range(nights):
        day = start + dt.timedelta(days=i)
        date = pa.repeat(pa.scalar(day, pa.date32()), rows)
        delta_tables.replace_partition(
            settings.table_uri(config.table_name("scores")),
            pa.table(
                {
                    **scores,
                    "dag_run_id": pa.repeat(pa.scalar(f"scheduled__{day}"), rows),
                    "score_date": date,
                }
            ),
            partition_column="score_date",
            value=day,
        )
        nightly_summary.record_night(settings, config, day)  # as the score task does
        delta_tables.replace_partition(
            settings.table_uri(config.table_name("features")),
            pa.table({**features, "feature_date": date}),
            partition_column="feature_date",
            value=day,
        )
        measured = [*config.feature_names, "probability"]
        delta_tables.replace_partition(
            settings.table_uri(config.table_name("drift_metrics")),
            pa.table(
                {
                    "score_date": pa.array([day] * len(measured), pa.date32()),
                    "feature": measured,
                    "value": rng.random(len(measured)) * 0.3,
                    "threshold": [0.2] * len(measured),
                    "status": ["measured"] * len(measured),
                    "drifted": rng.random(len(measured)) > 0.9,
                    "model_version": ["1"] * len(measured),  # drift is kept per version
                }
            ),
            partition_column="score_date",
            value=day,
        )
        if i % 30 == 0:
            print(f"  {i + 1}/{nights} nights written ({time.perf_counter() - setup:.0f} s)")
    last_night = start + dt.timedelta(days=nights - 1)
    summary_dir = Path(settings.table_uri(config.table_name(nightly_summary.KIND)))
    result = []
    for charts_from in ("nightly summary", "scores aggregated (no summary table)"):
        if charts_from.startswith("scores"):  # the alternative: what the page did before
            summary_dir.rename(summary_dir.with_name(summary_dir.name + ".aside"))
        for lookup in (False, True):
            timings, html = [], ""
            for _ in range(5):
                started = time.perf_counter()
                html = render(
                    settings,
                    config,
                    entity="e000000001" if lookup else None,
                    day=last_night if lookup else None,
                )
                timings.append(time.perf_counter() - started)
            result.append(
                {
                    "nights": nights,
                    "rows_per_night": rows,
                    "charts_from": charts_from,
                    "lineage_lookup": lookup,
                    "best_s": round(min(timings), 3),
                    "median_s": round(statistics.median(timings), 3),
                    "html_kb": len(html) // 1024,
                }
            )
    print_table("Nightjar page render (in-process, excluding HTTP)", result, list(result[0]))
    summary_dir.with_name(summary_dir.name + ".aside").rename(summary_dir)
    front = _overview(settings, config, datasets)
    print_table(f"overview at {nights} nights x {rows} rows a dataset", front, list(front[0]))
    print("wrote", write_results("dashboard", {"results": result, "overview": front}))
    return result[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=365)
    parser.add_argument("--rows", type=int, default=2000, help="scored rows per night")
    parser.add_argument("--datasets", type=int, default=5, help="datasets on the overview")
    args = parser.parse_args(argv)
    run(args.nights, args.rows, args.datasets)


if __name__ == "__main__":
    main()
