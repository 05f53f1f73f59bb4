"""A year of nights backfilled through Airflow's scheduler, scoring and monitoring, beside
the same Airflow with its stock LocalExecutor and a Spark driver per task.

In a private home and working folder, as a user runs it: ``nightjar airflow`` serves
Airflow (time schedules off), ``nightjar demo --nights 1`` trains and promotes a champion
through it, a year of applications (2,000 a night by default, no injected shift) lands on
main with one ``nightjar data ingest --from-folder``, and ``airflow backfill create``
scores every date, four runs at a time; each scoring run's scores Asset partition starts
that date's monitoring run. The clock stops when the last monitoring run ends.

The alternative is the same backfill in a second home, with
``AIRFLOW__CORE__EXECUTOR=LocalExecutor`` (task processes that import Nightjar's stack
each time) and ``NIGHTJAR_SPARK_SHARED_DRIVER=false`` (a local Spark driver per feature
task), over ``--baseline-nights`` dates (30 by default: two hours for a year is not worth
waiting for), extrapolated per date.

    python -m bench.backfill_year [--nights 365] [--baseline-nights 30] [--rows 2000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import print_table, write_results

SCORE_DAG, MONITOR_DAG = "nightjar_score__credit_default", "nightjar_monitor__credit_default"


def _seconds(start: str, end: str) -> float:
    return (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds()


def backfill(nights: int, rows: int, *, warm: bool) -> dict:
    """One home: a champion, ``nights`` dates on main, their backfill; its figures."""
    from nightjar.embedded import demo, demo_data
    from nightjar.embedded.airflow_api import AirflowAPI
    from nightjar.embedded.ports import free_port

    root = Path(tempfile.mkdtemp(prefix="nightjar-bench-year-"))
    home, work = root / "home", root / "work"
    work.mkdir(parents=True)
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": os.environ["HOME"],
        "NIGHTJAR_HOME": str(home),
        "NIGHTJAR_AIRFLOW_PORT": str(free_port()),
        "NIGHTJAR_LAKEFS_STANDIN_PORT": str(free_port()),
        "NIGHTJAR_TIME_SCHEDULES": "false",
        "AIRFLOW_HOME": str(home / "airflow"),
    }
    if not warm:
        env["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
        env["NIGHTJAR_SPARK_SHARED_DRIVER"] = "false"

    def nightjar(*args: str, timeout: float = 7200) -> str:
        done = subprocess.run(
            ["nightjar", *args], env=env, cwd=work, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            sys.exit(f"nightjar {' '.join(args)} failed:\n{(done.stdout + done.stderr)[-3000:]}")
        return done.stdout

    first = demo.FIRST_NIGHT + dt.timedelta(days=1)
    dates = [first + dt.timedelta(days=i) for i in range(nights)]
    log = root / "airflow.log"
    with log.open("wb") as out:
        airflow = subprocess.Popen(
            ["nightjar", "airflow"], env=env, cwd=work, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        while "Airflow UI:" not in log.read_text(errors="replace"):
            if airflow.poll() is not None:
                sys.exit(f"nightjar airflow exited:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        nightjar("demo", "--nights", "1")  # through the Airflow just started
        folder = work / "year"
        folder.mkdir()
        spec = demo_data.DemoSpec(rows_per_day=rows)
        for day in dates:
            demo_data.applications_for(day, spec).to_parquet(folder / f"apps-{day}.parquet")
        nightjar("data", "ingest", "applications", "--from-folder", str(folder))
        shutil.rmtree(folder)
        api = AirflowAPI.login(f"http://127.0.0.1:{env['NIGHTJAR_AIRFLOW_PORT']}", home / "airflow")
        started = time.monotonic()
        subprocess.run(
            [str(Path(sys.executable).parent / "airflow"), "backfill", "create",
             "--dag-id", SCORE_DAG, "--from-date", str(dates[0]),
             "--to-date", str(dates[-1] + dt.timedelta(days=1)), "--max-active-runs", "4",
             "--reprocess-behavior", "completed"],
            env=env, cwd=work, check=True, capture_output=True,
        )  # fmt: skip
        keys = {str(day) for day in dates}
        while True:
            scored = [r for r in api.runs(SCORE_DAG) if r["run_type"] == "backfill"]
            monitored = [r for r in api.runs(MONITOR_DAG) if r.get("partition_key") in keys]
            ended = [r for r in scored + monitored if r["state"] in ("success", "failed")]
            if len(scored) == len(monitored) == nights and len(ended) == 2 * nights:
                break
            time.sleep(10)
        wall = time.monotonic() - started
    finally:
        os.killpg(airflow.pid, signal.SIGTERM)
        airflow.wait(timeout=180)
        nightjar("stack", "down")
    first_start = min(r["start_date"] for r in scored)
    scoring = _seconds(first_start, max(r["end_date"] for r in scored))
    everything = _seconds(first_start, max(r["end_date"] for r in monitored))
    shutil.rmtree(root, ignore_errors=True)
    return {
        "path": "Nightjar (warm tasks, shared driver)" if warm else "stock LocalExecutor",
        "nights": nights,
        "rows_per_night": rows,
        "failed_runs": sum(r["state"] == "failed" for r in scored + monitored),
        "scoring_s": round(scoring, 1),
        "scoring_and_monitoring_s": round(everything, 1),
        "s_per_night": round(everything / nights, 2),
        "year_minutes": round(everything / nights * 365 / 60, 1),
        "wall_s": round(wall, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nights", type=int, default=365)
    parser.add_argument("--baseline-nights", type=int, default=30)
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args(argv)
    results = [backfill(args.nights, args.rows, warm=True)]
    if args.baseline_nights:
        results.append(backfill(args.baseline_nights, args.rows, warm=False))
    for row in results:
        print(row, flush=True)
    print_table(
        "a backfill of scoring and monitoring through the scheduler, 4 runs at a time",
        results,
        ["path", "nights", "scoring_s", "scoring_and_monitoring_s", "s_per_night", "year_minutes",
         "failed_runs"],
    )  # fmt: skip
    print("wrote", write_results("backfill_year", {"results": results}))


if __name__ == "__main__":
    main()
