"""One night through Airflow's scheduler (its scoring run and the monitoring run it starts),
against the bare score-and-write.

In a private home and working folder, as a user runs it: ``nightjar airflow`` serves
Airflow, ``nightjar demo --nights 1`` trains and promotes a champion through it (its
forest compiled at registration), and for each size a day of that many applications is
ingested with ``nightjar data ingest`` and ``nightjar_score__credit_default`` is
triggered through the REST API.

For each size:
- ``dag_run_s``: the scoring run's wall time as Airflow records it, from its start to its
  success (every task: open_snapshot, build_features, score); ``monitor_run_s`` the
  monitoring run's; ``night_s`` from the scoring run's start to the monitoring run's end;
- each task's own duration, and the gaps between them (the scheduler's);
- ``bare_s``: the same night's features partition scored and written in this process by
  ``score_partition`` with the same compiled forest: the score-and-write itself.

    python -m bench.nightly_run [--sizes 2000,100000,1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import print_table, write_results

SCORE_DAG, MONITOR_DAG = "nightjar_score__credit_default", "nightjar_monitor__credit_default"


def _free_port() -> int:
    from nightjar.embedded.ports import free_port

    return free_port()


def _seconds(start: str | None, end: str | None) -> float:
    if not (start and end):
        return float("nan")
    return (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds()


def run(sizes: list[int]) -> list[dict]:
    from nightjar.embedded import demo, demo_data
    from nightjar.embedded.airflow_api import AirflowAPI

    root = Path(tempfile.mkdtemp(prefix="nightjar-bench-nightly-"))
    home, work = root / "home", root / "work"
    work.mkdir(parents=True)
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": os.environ["HOME"],
        "NIGHTJAR_HOME": str(home),
        "NIGHTJAR_AIRFLOW_PORT": str(_free_port()),
        "NIGHTJAR_LAKEFS_STANDIN_PORT": str(_free_port()),
        "AIRFLOW_HOME": str(home / "airflow"),
    }

    def nightjar(*args: str, timeout: float = 3600) -> str:
        done = subprocess.run(
            ["nightjar", *args], env=env, cwd=work, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            sys.exit(f"nightjar {' '.join(args)} failed:\n{(done.stdout + done.stderr)[-3000:]}")
        return done.stdout

    log = root / "airflow.log"
    with log.open("wb") as out:
        airflow = subprocess.Popen(
            ["nightjar", "airflow"], env=env, cwd=work, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    rows_out = []
    try:
        while "Airflow UI:" not in log.read_text(errors="replace"):
            if airflow.poll() is not None:
                sys.exit(f"nightjar airflow exited:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        started = time.monotonic()
        nightjar("demo", "--nights", "1")  # through the Airflow just started
        print(f"demo (first model, one night): {time.monotonic() - started:.0f} s", flush=True)
        api = AirflowAPI.login(f"http://127.0.0.1:{env['NIGHTJAR_AIRFLOW_PORT']}", home / "airflow")
        for offset, size in enumerate(sizes, start=1):
            day = demo.FIRST_NIGHT + dt.timedelta(days=offset)
            batch = work / f"applications-{day}.parquet"
            spec = demo_data.DemoSpec(rows_per_day=size, customers=max(20_000, size))
            demo_data.applications_for(day, spec).to_parquet(batch, index=False)
            nightjar("data", "ingest", "applications", str(day), str(batch))
            batch.unlink()
            run_id = api.trigger(SCORE_DAG, {"date": day.isoformat()})
            state = api.wait_for_run(SCORE_DAG, run_id, timeout=3600)
            if state != "success":
                sys.exit(f"{SCORE_DAG} {run_id} ended {state}: see {home}/airflow/logs")
            dag_run = api.run(SCORE_DAG, run_id)
            tasks = {
                t["task_id"]: _seconds(t["start_date"], t["end_date"])
                for t in api.task_instances(SCORE_DAG, run_id)
            }
            wall = _seconds(dag_run["start_date"], dag_run["end_date"])
            monitor = _monitoring_run(api, day)
            bare = _bare_score_and_write(home, env, day)
            row = {
                "rows": size,
                "dag_run_s": round(wall, 1),
                "monitor_run_s": round(_seconds(monitor["start_date"], monitor["end_date"]), 1),
                "night_s": round(_seconds(dag_run["start_date"], monitor["end_date"]), 1),
                "bare_s": round(bare, 2),
                "x_bare": round(wall / bare, 1),
                **{f"{task}_s": round(seconds, 1) for task, seconds in tasks.items()},
            }
            rows_out.append(row)
            print(row, flush=True)
    finally:
        os.killpg(airflow.pid, signal.SIGTERM)
        airflow.wait(timeout=120)
    return rows_out


def _monitoring_run(api, day: dt.date, timeout: float = 1800) -> dict:
    """The monitoring run the scores Asset's partition for ``day`` started, once ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in api.runs(MONITOR_DAG):
            if run.get("partition_key") == str(day) and run["state"] in ("success", "failed"):
                return run
        time.sleep(2)
    sys.exit(f"no monitoring run of {day} ended within {timeout:.0f} s")


def _bare_score_and_write(home: Path, env: dict[str, str], day: dt.date) -> float:
    """``score_partition`` on the night's features, with the champion's compiled forest,
    into a bench table of the same warehouse, in a fresh process (best of two)."""
    code = f"""
import datetime as dt, time
from nightjar.core.datasets import dataset_config
from nightjar.core.settings import load_settings
from nightjar.promotion import registry
from nightjar.scoring.scorer import (ScoringContext, compiled_artifact_for, load_model_text,
    resolve_alias, score_partition)
from nightjar.training.trainer import load_categories
settings = load_settings()
config = dataset_config(settings)
model = resolve_alias(settings, config.model.name, registry.CHAMPION)
inputs = dict(categories=load_categories(settings, model.run_id),
              model_text=load_model_text(settings, model),
              compiled=compiled_artifact_for(settings, model))
day = dt.date.fromisoformat("{day}")
context = ScoringContext(day, "bench", f"{{day}}T00:00:00+00:00",
                         dt.datetime.combine(day, dt.time(), dt.UTC))
best = float("inf")
for _ in range(2):
    started = time.perf_counter()
    score_partition(settings, config, model, context, table="scores_bench_bare",
                    engine="arrow", **inputs)
    best = min(best, time.perf_counter() - started)
print(best)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], env={**env, "MLFLOW_DISABLE_TELEMETRY": "true"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="2000,100000,1000000", help="rows per night")
    args = parser.parse_args(argv)
    rows = run([int(s) for s in args.sizes.split(",")])
    columns = ["rows", "night_s", "dag_run_s", "monitor_run_s", "bare_s", "x_bare"]
    columns += [k for k in rows[0] if k.endswith("_s") and k not in columns]
    print_table("one nightly scoring run through the scheduler, against score-and-write", rows,
                columns)  # fmt: skip
    print("wrote", write_results("nightly_run", {"results": rows}))


if __name__ == "__main__":
    main()
