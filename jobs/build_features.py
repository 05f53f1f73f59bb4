"""Spark entrypoint: compute one feature partition from a pinned lakeFS commit.

The Airflow tasks call the same function in-process on the embedded stack; on a cluster,
submit this file instead (the package must be installed on the driver and executors):

    spark-submit --master spark://spark-master:7077 jobs/build_features.py \\
        --commit <lakefs commit id> --start 2026-03-01 --end 2026-03-01 \\
        --table features_credit_default --partition-column feature_date \\
        --partition-value 2026-03-01

Settings (lakeFS endpoint, warehouse, dataset config) come from NIGHTJAR_* variables.
"""

from __future__ import annotations

import argparse
import logging
import sys

from nightjar.core.dataset_config import load_dataset_config
from nightjar.core.names import parse_date, validate_identifier, validate_repository
from nightjar.core.settings import load_settings
from nightjar.features.job import run_feature_job
from nightjar.io.snapshots import Snapshot


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--commit", required=True, help="lakeFS commit id to read (immutable)")
    parser.add_argument("--repository", help="lakeFS repository (default: from settings)")
    parser.add_argument("--start", required=True, type=parse_date, help="first event date")
    parser.add_argument("--end", required=True, type=parse_date, help="last event date")
    parser.add_argument(
        "--table",
        required=True,
        type=validate_identifier,
        help="Delta table to write in the warehouse",
    )
    parser.add_argument("--partition-column", default="feature_date", type=validate_identifier)
    parser.add_argument(
        "--partition-value",
        required=True,
        help="partition to replace (a date, or a training run key)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    settings = load_settings()
    config = load_dataset_config(settings.dataset_config)
    repository = validate_repository(args.repository or settings.lakefs_repository)
    snapshot = Snapshot(repository=repository, branch="", commit_id=args.commit)
    result = run_feature_job(
        settings,
        config,
        snapshot,
        start=args.start,
        end=args.end,
        table=args.table,
        partition_column=args.partition_column,
        partition_value=args.partition_value,
    )
    logging.info(
        "wrote %d rows to %s (feature spec %s)", result.rows, result.table_uri, result.feature_spec
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
