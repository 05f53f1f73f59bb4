"""Training cost: Nightjar's tracked, lineage-tagged, gated training vs bare lightgbm.train.

Both paths train on the same synthetic rows (the demo config's features, a label that
depends on them, spread over the config's training window and split by ``split_by_time``
into training, validation and holdout days, as the retrain DAG splits them), with the same
``lightgbm_params``, boosting rounds and early stopping, and build the same model byte for
byte (checked):
1. nightjar: what the retrain DAG's ``train`` and ``evaluate_gate`` steps do once the rows
   are loaded, in three timed parts:
   - fit: ``training.fit`` (training-data checks, category lists, encoding, lgb.train);
   - mlflow_logging: ``training.log_training_run``, the second half of ``train_and_log``
     (holdout prediction, holdout and slice metrics, an MLflow run with the lineage tags
     and params, the runtime/categories/dataset-config JSON, the holdout parquet and model
     file artifacts, and ``mlflow.lightgbm.log_model`` with signature and input example);
   - gate: ``evaluation.evaluate_challenger`` (holdout and model read back from the run,
     champion lookup, latency and schema checks, ``gate.evaluate_gate`` with the policy,
     the decision logged to the run and appended to the approval_log Delta table);
2. bare: ``lightgbm.train`` on the already encoded training and validation matrices.

The two run in turn (bare, nightjar, nightjar, bare, ...), ``--repeats`` times each
(default 2), and the table shows each step's fastest time, every run printed below it:
lgb.train with two threads on a busy machine varies several-fold from run to run.
Encoding the bare path's matrices (``fit_categories`` + ``encode``, the work ``fit`` does
before lgb.train) is timed apart and is fit's overhead in the breakdown, which adds up
the work Nightjar does beyond lgb.train (that encoding, mlflow_logging, gate) rather than
subtracting two noisy lgb.train timings.

Not counted in either total: generating, sorting and splitting the rows, the encoding the
bare path is given, and what ``train_and_log`` does before fitting (reading the training
features from Delta and the labels from a lakeFS commit: that needs the feature job and a
lakeFS snapshot, so the snapshot recorded as lineage is a placeholder). The DAG's guard
and register/promote steps are not included. A warm-up of the Nightjar path on 20,000
rows first pays the one-off costs (imports, MLflow's SQLite schema, the experiment and the
approval_log table); its time is reported apart, as a cold task process pays it too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np

from bench.common import (
    peak_rss_mib,
    print_table,
    private_home,
    synthetic_features,
    timed,
    write_results,
)

WARMUP_ROWS = 20_000


def labelled_rows(config, rows: int, seed: int = 1):
    """Synthetic feature rows over the training window, labelled, in train_and_log's order."""
    import pandas as pd

    from nightjar.features.definitions import FEATURE_DATE

    frame = synthetic_features(config, rows, seed=seed)
    days = config.model.training_window_days
    day = np.arange(rows) * days // rows
    frame[config.event_time] += pd.to_timedelta(day, unit="D")
    dates = np.array([dt.date(2026, 1, 1) + dt.timedelta(days=d) for d in range(days)])
    frame[FEATURE_DATE] = dates[day]
    logit = 0.3 * frame["loan_to_income"] - 0.02 * frame["age"] + (frame["region"] == "west")
    frame[config.label.column] = (
        np.random.default_rng(seed + 1).random(rows) < 1 / (1 + np.exp(-logit + 2))
    ).astype(int)
    return frame.sort_values([config.event_time, config.entity_key], ignore_index=True)


def run(rows: int, repeats: int = 2) -> dict:
    private_home()
    import lightgbm as lgb

    from nightjar.core.datasets import dataset_config
    from nightjar.core.run_info import RunInfo
    from nightjar.core.settings import load_settings
    from nightjar.evaluation.evaluate import evaluate_challenger
    from nightjar.features.definitions import FEATURE_DATE
    from nightjar.io.snapshots import Snapshot
    from nightjar.training.model_inputs import encode, fit_categories
    from nightjar.training.trainer import (
        fit,
        lightgbm_params,
        log_training_run,
        model_sha256,
        split_by_time,
    )

    settings = load_settings()
    config = dataset_config(settings)
    snapshot = Snapshot("bench", "bench", "0" * 64)

    def nightjar(splits, timings: dict):
        """The DAG's train + evaluate_gate work on loaded rows, timed part by part."""
        train, valid, _ = splits
        as_of = max(splits[2][FEATURE_DATE]) + dt.timedelta(days=config.label.delay_days)
        run_info = RunInfo(
            "bench", "bench", f"{as_of}T00:00:00+00:00", as_of, dt.datetime.now(dt.UTC)
        )
        with timed(timings, "fit"):
            booster, categories = fit(config, train, valid)
        with timed(timings, "mlflow_logging"):
            trained = log_training_run(
                settings,
                config,
                snapshot,
                booster,
                categories,
                splits,
                training_key="bench",
                as_of=as_of,
                intent="bench: training overhead",
                airflow_run=run_info.as_tags(),
            )
        with timed(timings, "gate"):
            decision = evaluate_challenger(settings, config, trained.run_id, run_info)
        return trained, decision

    started = time.perf_counter()
    nightjar(split_by_time(config, labelled_rows(config, WARMUP_ROWS, seed=7)), {})
    warmup = time.perf_counter() - started

    splits = split_by_time(config, labelled_rows(config, rows))
    train, valid, holdout = splits
    label = config.label.column
    timings: dict[str, float] = {}
    with timed(timings, "encoding"):
        categories = fit_categories(config, train)
        train_x, valid_x = encode(config, train, categories), encode(config, valid, categories)

    def bare_train() -> lgb.Booster:
        train_set = lgb.Dataset(train_x, label=train[label], categorical_feature=config.categorical)
        return lgb.train(
            lightgbm_params(config),
            train_set,
            num_boost_round=config.model.num_boost_round,
            valid_sets=[lgb.Dataset(valid_x, label=valid[label], reference=train_set)],
            callbacks=[lgb.early_stopping(config.model.early_stopping_rounds, verbose=False)],
        )

    runs: list[dict[str, float]] = []
    for repeat in range(repeats):
        runs.append({})
        if repeat % 2:
            trained, decision = nightjar(splits, runs[-1])
        with timed(runs[-1], "bare"):
            bare = bare_train()
        if not repeat % 2:
            trained, decision = nightjar(splits, runs[-1])
    timings.update({key: min(run[key] for run in runs) for key in runs[0]})
    timings["nightjar"] = timings["fit"] + timings["mlflow_logging"] + timings["gate"]

    base = timings["bare"]
    overhead = {
        "fit": timings["encoding"],
        "mlflow_logging": timings["mlflow_logging"],
        "gate": timings["gate"],
    }
    overhead["nightjar"] = sum(overhead.values())
    rows_out = []
    for key, path in (
        ("bare", "bare lightgbm.train"),
        ("nightjar", "nightjar total"),
        ("fit", "  fit"),
        ("mlflow_logging", "  mlflow_logging"),
        ("gate", "  gate"),
    ):
        rows_out.append(
            {
                "rows": rows,
                "path": path,
                "seconds": round(timings[key], 3),
                "x_bare": round(timings[key] / base, 2),
                "overhead_s": round(overhead[key], 3) if key in overhead else "-",
                "share_of_overhead": (
                    f"{overhead[key] / overhead['nightjar']:.0%}" if key in overhead else "-"
                ),
            }
        )
    print_table(
        "training: nightjar (fit + MLflow logging + gate) vs bare lightgbm.train (seconds; "
        "x_bare = seconds / bare; overhead_s = work beyond lgb.train, for fit its "
        "categories + encode timed apart)",
        rows_out,
        ["rows", "path", "seconds", "x_bare", "overhead_s", "share_of_overhead"],
    )
    print(
        "every run, in order (the table shows each step's fastest): "
        + "; ".join(
            ", ".join(f"{key} {seconds:.2f}" for key, seconds in run.items()) for run in runs
        )
    )
    lgb_train = [run["bare"] for run in runs] + [run["fit"] - timings["encoding"] for run in runs]
    steady_ratio = (min(lgb_train) + overhead["nightjar"]) / min(lgb_train)
    print(
        f"lgb.train, the same work in both paths, took {min(lgb_train):.2f} to "
        f"{max(lgb_train):.2f} s across runs; at its fastest, nightjar = {min(lgb_train):.2f} + "
        f"{overhead['nightjar']:.2f} s overhead = {steady_ratio:.2f} x bare"
    )
    same_model = model_sha256(bare) == trained.model_sha256
    print(
        f"rows: {len(train)} training, {len(valid)} validation, {len(holdout)} holdout; "
        f"best iteration {bare.best_iteration}; same model from both paths: {same_model}"
    )
    print(
        f"holdout roc_auc {trained.holdout_metrics['roc_auc']:.4f}; "
        f"gate {'passed' if decision.passed else 'failed'}; "
        f"warm-up (one-off costs + {WARMUP_ROWS} rows): {warmup:.1f} s"
    )
    result = {
        "rows": rows,
        "results": rows_out,
        "seconds": {key: round(value, 3) for key, value in timings.items()},
        "runs": runs,
        "ratio_at_fastest_lgb_train": round(steady_ratio, 3),
        "split_rows": {"train": len(train), "validation": len(valid), "holdout": len(holdout)},
        "best_iteration": bare.best_iteration,
        "same_model": same_model,
        "model_sha256": trained.model_sha256,
        "holdout_metrics": trained.holdout_metrics,
        "gate": decision.as_dict(),
        "warmup_seconds": round(warmup, 3),
        "peak_rss_mib": peak_rss_mib(),
    }
    print("wrote", write_results("training", result))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="synthetic rows to train on")
    parser.add_argument(
        "--repeats", type=int, default=2, help="bare/nightjar pairs; each step's fastest is shown"
    )
    args = parser.parse_args(argv)
    run(args.rows, args.repeats)


if __name__ == "__main__":
    main()
