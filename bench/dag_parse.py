"""What the DAG processor pays to parse Nightjar's DAG files, for 1 and for 20 datasets:
the factory files reading the folder of configs, beside static DAG files that name one
dataset each and read nothing (the natural alternative: generating a file per dataset
and stage).

Each trial is a fresh interpreter, as the DAG processor's is per file: it parses every
DAG file with Airflow's ``DagBag`` and reports each file's parse time (Airflow's own
figure, ``dagbag_stats``) and the wall time of the whole folder. The 20 datasets are the
packaged credit config under 20 names (its sources at paths of their own).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import print_table, write_results

ROOT = Path(__file__).resolve().parents[1]
PACKAGED = ROOT / "include" / "nightjar" / "configs"
STAGES = ("score", "monitor", "retrain", "retrain_weekly", "watch_main")

_PARSE = """
import json, sys, time
started = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
wall = time.perf_counter() - started
assert not bag.import_errors, bag.import_errors
print(json.dumps({"dags": len(bag.dag_ids), "wall_s": wall,
                  "files_s": sum(s.duration.total_seconds() for s in bag.dagbag_stats),
                  "slowest_file_s": max(s.duration.total_seconds() for s in bag.dagbag_stats)}))
"""

_STATIC = '''"""Static {stage} DAG of {dataset} (the benchmark's alternative to the factory)."""
from nightjar.airflow.dataset_dags import DatasetDags
from {module} import {builder}

{builder}(DatasetDags(name="{dataset}", owner="nightjar", description="", tags=("nightjar",),
    score_schedule="0 1 * * *", retrain_schedule="0 4 * * 0", pool="nightjar__{dataset}",
    loop_guard_pool="nightjar_loop_guard__{dataset}", priority_weight=10))
'''


def _datasets_folder(tmp: Path, count: int) -> Path:
    folder = tmp / "datasets"
    folder.mkdir()
    shutil.copytree(PACKAGED / "policies", tmp / "policies")
    text = (PACKAGED / "datasets" / "credit_default.yaml").read_text()
    for i in range(count):
        name = f"credit_{i:02d}"
        copy = (
            text.replace("name: credit_default", f"name: {name}", 1)
            .replace("path: raw/", f"path: raw/{name}/")
            .replace("model:\n  name: credit_default", f"model:\n  name: {name}_model")
        )
        (folder / f"{name}.yaml").write_text(copy)
    return folder


def _static_dags(tmp: Path, count: int) -> Path:
    """A DAG file per dataset and stage, each building its DAG from constants: the stage
    builders of the factory files, imported from a copy that builds none itself."""
    folder = tmp / "static"
    folder.mkdir()
    builders = tmp / "builders"
    builders.mkdir()
    for stage in STAGES:
        source = (ROOT / "dags" / f"nightjar_{stage}.py").read_text()
        head = source.split("\nfor served in served_datasets():")[0]
        (builders / f"builder_{stage}.py").write_text(head)
        for i in range(count):
            dataset = f"credit_{i:02d}"
            (folder / f"nightjar_{stage}__{dataset}.py").write_text(
                _STATIC.format(
                    stage=stage, dataset=dataset, module=f"builder_{stage}",
                    builder=f"{stage}_dag",
                )
            )  # fmt: skip
    return folder


def _trial(dag_folder: Path, env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _PARSE, str(dag_folder)],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"parsing {dag_folder} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="1,20", help="comma-separated dataset counts")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for count in (int(n) for n in args.datasets.split(",")):
        with tempfile.TemporaryDirectory(prefix="nightjar-bench-parse-") as scratch:
            tmp = Path(scratch)
            configs = _datasets_folder(tmp, count)
            static = _static_dags(tmp, count)
            env = {
                **os.environ,
                "NIGHTJAR_DATASETS_DIR": str(configs),
                "AIRFLOW_HOME": str(tmp / "airflow"),
                "PYTHONPATH": os.pathsep.join([str(tmp / "builders"), str(ROOT)]),
            }
            env.pop("NIGHTJAR_DATASET_CONFIG", None)
            for layout, folder in (("factory (reads the configs)", ROOT / "dags"),
                                   ("static file per dataset and stage", static)):  # fmt: skip
                trials = [_trial(folder, env) for _ in range(args.repeats)]
                rows.append(
                    {
                        "datasets": count,
                        "layout": layout,
                        "dags": trials[0]["dags"],
                        "files_s": statistics.median(t["files_s"] for t in trials),
                        "slowest_file_s": statistics.median(t["slowest_file_s"] for t in trials),
                        "wall_s": statistics.median(t["wall_s"] for t in trials),
                    }
                )
    columns = ["datasets", "layout", "dags", "files_s", "slowest_file_s", "wall_s"]
    print_table("DAG parse time (median of trials)", rows, columns)
    write_results("dag_parse", {"rows": rows, "repeats": args.repeats})


if __name__ == "__main__":
    main()
