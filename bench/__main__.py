"""Run every benchmark, each in its own process: python -m bench [--only scoring,drift].

Each writes bench/results/<name>.json and prints its comparison table. A separate process
per benchmark keeps their Spark sessions, homes and peak-RSS figures apart.
"""

import argparse
import subprocess
import sys

BENCHMARKS = {
    "scoring": ["--sizes", "1000000,10000000"],
    "features": ["--rows", "1000000"],
    "training": ["--rows", "1000000"],
    "drift": [],
    "dashboard": ["--nights", "365", "--rows", "1000000"],
    "spark_startup": [],
    "spark_cluster": ["--sizes", "10000000,50000000"],
    "features_cluster": ["--sizes", "1000000,10000000", "--paths", "embedded,embedded-8g,cluster"],
    "compiled_scoring": ["--sizes", "1000000,10000000", "--threads", "1,2"],
    "nightly_run": ["--sizes", "2000,100000,1000000"],
    "backfill_year": ["--nights", "365", "--baseline-nights", "30"],
    "dag_parse": ["--datasets", "1,20"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description="Run Nightjar's benchmarks side by side.")
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help="comma-separated subset of: %(default)s"
    )
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    failed = []
    for name in chosen:
        print(f"\n=== bench.{name} ===", flush=True)
        result = subprocess.run([sys.executable, "-m", f"bench.{name}", *BENCHMARKS[name]])
        if result.returncode != 0:
            failed.append(name)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
