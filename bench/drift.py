"""Drift at scale: Nightjar's PSI decision path vs Evidently's DataDriftPreset.

Synthetic data, 30 features: 24 numeric of assorted shapes (normal, log-normal, gamma,
uniform, counts, beta, exponential with 5% missing, bimodal) and 6 categorical (3 to 40
categories, Zipf-like shares). The reference (the champion's training features) and the
current night are drawn from the same distributions with different seeds, except six
columns, 4 numeric and 2 categorical, shifted clearly in the current night (see DRIFT),
so every column has a known right answer.

1. nightjar: ``measure_drift`` end to end on --current-rows rows against a reference of
   --reference-rows: read the night's Delta partition, PSI of every feature and of the
   prediction against the reference statistics, the drift_metrics write, and the
   Evidently report on the samples (with MLflow logging). Once as the first
   night of a model version (reference statistics built from the training features table
   and cached in MLflow), once as any later night (cached reference).
2. evidently: ``Report([DataDriftPreset()], include_tests=True)`` on the full data (not a
   sample), --evidently-rows current rows x as many reference rows; its decision per
   column is its drift test's status. On a timeout, a memory blow-up or an error the size
   is halved and retried, and every failed size is recorded.
3. agreement: on the data Evidently finished, Nightjar's statistics (``fit_bins``,
   ``ColumnBins.count``, ``psi`` and the ``psi_threshold`` rule, timed as "nightjar PSI,
   in memory") vs Evidently's per-column drift tests: the share of the columns both decide
   the same way.

Every path runs in its own spawned process, so its memory is its own: rss_start_mib is
that process before the timed work (interpreter, imports and, for the in-memory paths,
the generated frames), peak_rss_mib the most it ever held. Seconds exclude imports and
data generation.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import peak_rss_mib, print_table, private_home, timed, write_results

SCORE_DAY = dt.date(2026, 3, 1)
TRAINING_KEY = "drift-bench"
CHUNK_ROWS = 1_000_000
CURRENT_SEED, REFERENCE_SEED = 1, 2
NUMERIC_SHARE = 0.8
CARDINALITY = (3, 4, 5, 8, 12, 40)
DRIFT = {
    "num_00": "normal: mean +1 sd",
    "num_09": "log-normal: scale x1.8",
    "num_11": "uniform 0-100: shifted +30",
    "num_20": "counts: mean +2",
    "cat_1": "4 categories: shares reversed",
    "cat_4": "12 categories: 25% a new category",
}


def feature_names(features: int) -> tuple[list[str], list[str]]:
    numeric = round(features * NUMERIC_SHARE)
    return [f"num_{i:02d}" for i in range(numeric)], [f"cat_{j}" for j in range(features - numeric)]


def _numeric(i: int, rng: np.random.Generator, rows: int, drifted: bool) -> np.ndarray:
    family = i % 8
    if family == 0:
        scale = 1.0 + i % 3
        return rng.normal(i + (scale if drifted else 0.0), scale, rows)
    if family == 1:
        return rng.lognormal(0.0, 0.75, rows) * (1.8 if drifted else 1.0)
    if family == 2:
        return rng.gamma(2.0, 2.0 + i % 3, rows)
    if family == 3:
        return rng.uniform(0.0, 100.0, rows) + (30.0 if drifted else 0.0)
    if family == 4:
        return rng.poisson(3 + i % 4 + (2 if drifted else 0), rows).astype(float)
    if family == 5:
        return rng.beta(2.0, 5.0, rows)
    if family == 6:
        values = rng.exponential(1.0, rows)
        values[rng.random(rows) < 0.05] = np.nan
        return values
    return np.where(rng.random(rows) < 0.3, rng.normal(-2.0, 1.0, rows), rng.normal(3.0, 1.0, rows))


def _categorical(j: int, rng: np.random.Generator, rows: int, drifted: bool) -> np.ndarray:
    k = CARDINALITY[j % len(CARDINALITY)]
    names = np.array([f"c{j}_{v:02d}" for v in range(k)] + [f"c{j}_new"], dtype=object)
    shares = 1 / np.arange(1, k + 1)
    shares = np.append(shares / shares.sum(), 0.0)
    if drifted and k <= 5:
        shares[:k] = shares[:k][::-1]
    elif drifted:
        shares = np.append(shares[:k] * 0.75, 0.25)
    return names[rng.choice(k + 1, rows, p=shares)]


def _chunk(features: int, index: int, rows: int, *, current: bool) -> pd.DataFrame:
    """Chunk ``index`` of the synthetic rows, one seed per chunk and column: a chunk is
    the same whoever generates it, and columns are independent."""
    numeric, categorical = feature_names(features)
    seed = CURRENT_SEED if current else REFERENCE_SEED
    chunk = {}
    for column, name in enumerate([*numeric, *categorical]):
        rng = np.random.default_rng([seed, index, column])
        generate = _numeric if name in numeric else _categorical
        chunk[name] = generate(int(name.split("_")[1]), rng, rows, current and name in DRIFT)
    return pd.DataFrame(chunk)


def synthetic_frame(features: int, rows: int, *, current: bool) -> pd.DataFrame:
    """The first ``rows`` synthetic rows of the reference or of the current night."""
    chunks = [
        _chunk(features, index, min(CHUNK_ROWS, rows - start), current=current)
        for index, start in enumerate(range(0, rows, CHUNK_ROWS))
    ]
    return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]


def predictions(rows: int, seed: int) -> pd.Series:
    """Predicted probabilities, identically distributed in reference and current."""
    return pd.Series(np.random.default_rng([seed, 99]).beta(2.0, 8.0, rows), name="probability")


def bench_config(features: int):
    """The demo dataset config with the synthetic features instead of the demo's."""
    from nightjar.core.dataset_config import DatasetConfig
    from nightjar.core.datasets import dataset_config
    from nightjar.core.settings import load_settings

    demo = dataset_config(load_settings())
    numeric, categorical = feature_names(features)
    specs = {
        name: {
            "definition": {"kind": "expr", "expr": name},
            "type": "string" if name in categorical else "float",
        }
        for name in [*numeric, *categorical]
    }
    dumped = demo.model_dump()
    base = dumped["sources"][demo.base_source]
    base["columns"] |= {  # the raw columns the synthetic features' expressions read
        name: {"type": "string" if name in categorical else "float"}
        for name in [*numeric, *categorical]
    }
    return DatasetConfig.model_validate(
        {
            **dumped,
            "name": "drift_bench",
            "features": specs,
            "categorical": categorical,
            "slices": [],
        }
    )


# Each function below runs in its own spawned process (see _isolated).


def _setup(features: int, current_rows: int, reference_rows: int) -> dict:
    """Training features, the night's features and scores in Delta; the model's MLflow run."""
    import tempfile

    import mlflow
    import pyarrow as pa

    from nightjar.core.settings import load_settings
    from nightjar.features.definitions import FEATURE_DATE, spec_hash
    from nightjar.io import delta_tables
    from nightjar.io.tracking import ensure_experiment, fluent
    from nightjar.scoring.scorer import SCORE_DATE
    from nightjar.training.trainer import PREDICTION, TRAINING_RUN

    settings = load_settings()
    config = bench_config(features)
    started = time.perf_counter()
    for table, rows, current, partition in (
        ("training_features", reference_rows, False, TRAINING_RUN),
        ("features", current_rows, True, FEATURE_DATE),
    ):
        for start in range(0, rows, CHUNK_ROWS):
            size = min(CHUNK_ROWS, rows - start)
            frame = _chunk(features, start // CHUNK_ROWS, size, current=current)
            frame.insert(0, config.entity_key, [f"e{start + i:010d}" for i in range(size)])
            frame.insert(1, config.event_time, pd.Timestamp(SCORE_DAY, tz="UTC"))
            frame.insert(2, FEATURE_DATE, SCORE_DAY)
            frame["lakefs_commit"] = "0" * 64
            frame["feature_spec"] = spec_hash(config)
            if partition == TRAINING_RUN:
                frame[TRAINING_RUN] = TRAINING_KEY
            delta_tables.append(
                settings.table_uri(config.table_name(table)),
                pa.Table.from_pandas(frame, preserve_index=False),
                partition_by=[partition],
            )
    scores = pa.table(
        {
            "probability": predictions(current_rows, CURRENT_SEED).to_numpy(),
            "model_version": pa.array(["1"] * current_rows, pa.string()),
        }
    )
    delta_tables.append(
        settings.table_uri(config.table_name("scores")),
        scores.append_column(SCORE_DATE, pa.array([SCORE_DAY] * current_rows, pa.date32())),
        partition_by=[SCORE_DATE],
    )
    experiment = ensure_experiment(settings, config.name)
    with (
        fluent(settings),
        mlflow.start_run(
            experiment_id=experiment, tags={"nightjar.training_key": TRAINING_KEY}
        ) as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        holdout = Path(tmp) / "holdout.parquet"
        pd.DataFrame(
            {PREDICTION: predictions(max(reference_rows // 5, 1), REFERENCE_SEED)}
        ).to_parquet(holdout, index=False)
        mlflow.log_artifact(str(holdout), "evaluation")
    return {"run_id": run.info.run_id, "setup_seconds": time.perf_counter() - started}


def _measure_drift(features: int, run_id: str) -> dict:
    """Nightjar's nightly path: ``measure_drift`` for one scored date, as the DAG runs it."""
    import evidently.presets  # noqa: F401  # imports kept out of the timing
    import mlflow  # noqa: F401

    from nightjar.core.settings import load_settings
    from nightjar.io import delta_tables
    from nightjar.monitoring.drift import measure_drift
    from nightjar.scoring.scorer import SCORE_DATE, ModelRef

    settings = load_settings()
    config = bench_config(features)
    model = ModelRef(config.model.name, "1", run_id, "champion")
    result: dict = {"rss_start_mib": peak_rss_mib()}
    with timed(result, "seconds"):
        summary = measure_drift(settings, config, model, SCORE_DAY, settings.home_dir / "reports")
    metrics = delta_tables.read(
        settings.table_uri(config.table_name("drift_metrics")),
        filters=[(SCORE_DATE, "=", SCORE_DAY)],
    ).to_pandas()
    result["psi"] = {row.feature: round(row.value, 6) for row in metrics.itertuples()}
    result["rows_current"] = int(metrics["rows_current"].max())
    result["drifted"] = summary.drifted
    return result


def _frames(features: int, current_rows: int, reference_rows: int):
    return (
        synthetic_frame(features, current_rows, current=True),
        synthetic_frame(features, reference_rows, current=False),
    )


def _nightjar_in_memory(features: int, current_rows: int, reference_rows: int) -> dict:
    """Nightjar's statistics and decision rule on in-memory frames (Evidently's data)."""
    from nightjar.core.drift_stats import fit_bins, psi, shares

    config = bench_config(features)
    current, reference = _frames(features, current_rows, reference_rows)
    result: dict = {"rss_start_mib": peak_rss_mib()}
    with timed(result, "seconds"):
        values = {}
        for name in config.feature_names:
            bins = fit_bins(
                reference[name], categorical=name in config.categorical, bins=config.drift.bins
            )
            values[name] = psi(
                shares(bins.count(reference[name])), shares(bins.count(current[name]))
            )
    result["psi"] = {name: round(value, 6) for name, value in values.items()}
    result["drifted"] = [n for n, v in values.items() if v > config.drift.psi_threshold]
    return result


def _evidently(features: int, current_rows: int, reference_rows: int) -> dict:
    """Evidently's DataDriftPreset on the full frames; the decisions are its drift tests."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numeric, categorical = feature_names(features)
    current, reference = _frames(features, current_rows, reference_rows)
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    result: dict = {"rss_start_mib": peak_rss_mib()}
    with timed(result, "seconds"):
        snapshot = Report([DataDriftPreset()], include_tests=True).run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )
        report = snapshot.dict()
    columns: dict[str, dict] = {}
    for metric in report["metrics"]:
        if metric["config"]["type"].endswith(":ValueDrift"):
            columns[metric["config"]["column"]] = {
                "method": metric["config"]["method"],
                "threshold": metric["config"]["threshold"],
                "score": round(metric["value"], 6),
            }
    for test in report["tests"]:
        column = test["metric_config"]["params"].get("column")
        if test["id"] == "drift" and column in columns:
            columns[column]["drifted"] = test["status"] == "FAIL"
    result["columns"] = columns
    result["drifted"] = [name for name, column in columns.items() if column.get("drifted")]
    return result


def _child(send, target, args) -> None:
    try:
        result = target(*args)
        result["peak_rss_mib"] = round(peak_rss_mib())
    except BaseException as exc:  # reported to the parent, which records the failure
        result = {"error": f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:160]}"}
    send.send(result)


def _isolated(target, *args, timeout: float, memory_limit_mib: float) -> dict:
    """``target(*args)`` in a fresh spawned process. Running out of time or memory (the
    parent watches RSS), an exception or a crash is a result ({"error": ...}), not fatal."""
    import psutil

    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(send, target, args))
    started = time.perf_counter()
    process.start()
    send.close()
    watched = psutil.Process(process.pid)
    result, seen_mib = None, 0.0
    while result is None:
        if receive.poll(0.5):
            result = receive.recv()
            break
        elapsed = time.perf_counter() - started
        with contextlib.suppress(psutil.NoSuchProcess):
            seen_mib = max(seen_mib, watched.memory_info().rss / 2**20)
        if not process.is_alive():
            result = {"error": f"process died (exit code {process.exitcode})"}
        elif seen_mib > memory_limit_mib:
            limit = f"{memory_limit_mib:.0f} MiB"
            result = {"error": f"killed: RSS above {limit} after {elapsed:.0f} s"}
        elif elapsed > timeout:
            result = {"error": f"killed: still running after {timeout:.0f} s"}
    if process.is_alive() and "error" in result:
        process.kill()
    process.join()
    if "error" in result:
        result.setdefault("peak_rss_mib", round(seen_mib))
    return result


def _row(path: str, current: int, reference: int, outcome: dict, names: list[str]) -> dict:
    row = {"path": path, "current_rows": current, "reference_rows": reference}
    if "error" in outcome:
        return {**row, "seconds": "failed", "peak_rss_mib": outcome["peak_rss_mib"]} | {
            "note": outcome["error"]
        }
    drifted = set(outcome["drifted"])
    right = sum((name in drifted) == (name in DRIFT) for name in names)
    return {
        **row,
        "seconds": round(outcome["seconds"], 1),
        "rss_start_mib": round(outcome["rss_start_mib"]),
        "peak_rss_mib": outcome["peak_rss_mib"],
        "drifted": f"{len(drifted)}/{len(names)}",
        "right": f"{right}/{len(names)}",
    }


def run(
    current_rows: int,
    reference_rows: int,
    features: int,
    evidently_rows: int,
    *,
    timeout: float = 1800,
    memory_limit_gib: float = 14,
    min_evidently_rows: int = 50_000,
) -> dict:
    private_home()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # children inherit
    numeric, categorical = feature_names(features)
    names = [*numeric, *categorical]
    limits = {"timeout": timeout, "memory_limit_mib": memory_limit_gib * 1024}
    setup = _isolated(
        _setup, features, current_rows, reference_rows, **{**limits, "timeout": float("inf")}
    )
    if "error" in setup:
        raise RuntimeError(f"could not write the benchmark's tables: {setup['error']}")
    rows_out, outcomes = [], {}
    for key, path in (
        ("first_night", "nightjar measure_drift (builds reference)"),
        ("later_night", "nightjar measure_drift (cached reference)"),
    ):
        outcomes[key] = _isolated(_measure_drift, features, setup["run_id"], **limits)
        rows_out.append(_row(path, current_rows, reference_rows, outcomes[key], names))
    size, evidently = evidently_rows, None
    while evidently is None and size >= min_evidently_rows:
        reference = min(size, reference_rows)
        outcome = _isolated(_evidently, features, size, reference, **limits)
        rows_out.append(_row("evidently DataDriftPreset", size, reference, outcome, names))
        if "error" in outcome:
            size //= 2
        else:
            evidently = outcome
    columns, agreement = [], None
    if evidently is not None:
        nightjar = _isolated(_nightjar_in_memory, features, size, reference, **limits)
        rows_out.append(_row("nightjar PSI, in memory", size, reference, nightjar, names))
        if "error" not in nightjar:
            for name in names:
                theirs = evidently["columns"].get(name, {})
                ours = name in nightjar["drifted"]
                columns.append(
                    {
                        "feature": name,
                        "injected": DRIFT.get(name, "-"),
                        "psi": nightjar["psi"][name],
                        "nightjar": "drift" if ours else "-",
                        "evidently_method": theirs.get("method", "?"),
                        "evidently_score": theirs.get("score", "?"),
                        "evidently": "drift" if theirs.get("drifted") else "-",
                        "agree": ours == bool(theirs.get("drifted")),
                    }
                )
            same = sum(c["agree"] for c in columns)
            agreement = {
                "current_rows": size,
                "reference_rows": reference,
                "columns": len(columns),
                "same_decision": same,
                "share": same / len(columns),
            }
    print_table(
        f"drift: {features} features, {len(DRIFT)} shifted ({', '.join(DRIFT)})",
        rows_out,
        [
            "path",
            "current_rows",
            "reference_rows",
            "seconds",
            "rss_start_mib",
            "peak_rss_mib",
            "drifted",
            "right",
            "note",
        ],
    )
    if columns:
        print_table(
            f"per-column decisions at {size:,} current x {reference:,} reference rows",
            columns,
            list(columns[0]),
        )
        print(
            f"\nagreement, Nightjar vs Evidently: {agreement['same_decision']}/"
            f"{agreement['columns']} columns = {agreement['share']:.1%}"
        )
    else:
        print("\nagreement: not measured, Evidently finished at no size")
    result = {
        "current_rows": current_rows,
        "reference_rows": reference_rows,
        "features": features,
        "injected_drift": DRIFT,
        "setup_seconds": round(setup["setup_seconds"], 1),
        "results": rows_out,
        "columns": columns,
        "agreement": agreement,
        "nightjar_psi_full_size": outcomes["later_night"].get("psi"),
        "peak_rss_mib": peak_rss_mib(),
    }
    print("wrote", write_results("drift", result))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--current-rows", type=int, default=10_000_000)
    parser.add_argument("--reference-rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument(
        "--evidently-rows",
        type=int,
        default=1_000_000,
        help="current rows Evidently tries first (reference: as many, at most --reference-rows)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800,
        help="seconds a path's process may run, imports and data included, before it's killed",
    )
    parser.add_argument(
        "--memory-limit-gib", type=float, default=14, help="RSS at which a path is killed"
    )
    args = parser.parse_args(argv)
    run(
        args.current_rows,
        args.reference_rows,
        args.features,
        args.evidently_rows,
        timeout=args.timeout,
        memory_limit_gib=args.memory_limit_gib,
    )


if __name__ == "__main__":
    main()
