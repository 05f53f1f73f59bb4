"""Shared benchmark plumbing: a private home, synthetic feature rows, a trained model."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

RESULTS = Path(os.environ.get("NIGHTJAR_BENCH_RESULTS") or Path(__file__).parent / "results")
"""Where results go; the suite's smoke test points it at a temporary folder."""


def private_home() -> Path:
    """Benchmarks never touch the demo's state: they get their own home."""
    home = Path(tempfile.mkdtemp(prefix="nightjar-bench-"))
    os.environ["NIGHTJAR_HOME"] = str(home)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    return home


def synthetic_features(config, rows: int, seed: int = 0) -> pd.DataFrame:
    """Feature rows with the demo config's columns and plausible distributions."""
    rng = np.random.default_rng(seed)
    frame = {
        config.entity_key: np.char.add("e", np.arange(rows).astype(str)),
        config.event_time: pd.Timestamp("2026-03-01", tz="UTC")
        + pd.to_timedelta(rng.integers(0, 86_400, rows), unit="s"),
        "feature_date": pd.Timestamp("2026-03-01").date(),
    }
    for name, spec in config.features.items():
        if name in config.categorical:
            values = (
                ["north", "south", "east", "west"]
                if name == "region"
                else ["card", "personal", "auto", "mortgage"]
            )
            frame[name] = rng.choice(values, rows)
        else:
            frame[name] = rng.gamma(2.0, 2.0, rows) + (spec.min or 0)
    return pd.DataFrame(frame)


def train_model(config, rows: int = 200_000):
    """A LightGBM model on synthetic rows, trained the way Nightjar trains."""
    from nightjar.training.trainer import fit

    frame = synthetic_features(config, rows, seed=1)
    logit = 0.3 * frame["loan_to_income"] - 0.02 * frame["age"] + (frame["region"] == "west")
    frame[config.label.column] = (
        np.random.default_rng(2).random(rows) < 1 / (1 + np.exp(-logit + 2))
    ).astype(int)
    split = int(rows * 0.8)
    return fit(config, frame.iloc[:split], frame.iloc[split:])


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def timed(results: dict, key: str):
    started = time.perf_counter()
    yield
    results[key] = time.perf_counter() - started


def write_results(name: str, payload: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    payload = {
        "benchmark": name,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        **payload,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def print_table(title: str, rows: list[dict], columns: list[str]) -> None:
    print(f"\n{title}")
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns))


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for each in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += each.memory_info().rss
    return total


def run_measured_child(module: str, args: list[str], env: dict, limit_bytes: int) -> dict:
    """Run ``python -m module *args``, sampling its process tree's RSS every 0.2 s; stop it
    past ``limit_bytes`` rather than leave it to the OOM killer. Returns the peak, the wall
    time and the JSON object the child printed last (or why it failed)."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak, stopped = 0, False
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, stopped
        process = psutil.Process(child.pid)
        while not done.wait(0.2):
            try:
                peak = max(peak, _tree_rss(process))
            except psutil.Error:
                return
            if peak > limit_bytes and not stopped:
                stopped = True
                for each in [*process.children(recursive=True), process]:
                    each.kill()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = child.communicate()
    done.set()
    sampler.join()
    result = {"peak_rss_mib": round(peak / 2**20), "wall_s": time.perf_counter() - started}
    if stopped:
        return {**result, "failed": f"stopped at {limit_bytes / 2**30:.0f} GiB tree RSS"}
    if child.returncode != 0:
        return {**result, "failed": (err.strip().splitlines() or ["?"])[-1][:160]}
    return {**result, **json.loads(out.strip().splitlines()[-1])}
