"""Run every benchmark: python -m bench [--sizes 1000000,10000000]."""

import argparse

from bench import dashboard, scoring


def main() -> None:
    parser = argparse.ArgumentParser(description="Run Nightjar's benchmarks side by side.")
    parser.add_argument(
        "--sizes", default="1000000", help="row counts for the scoring benchmark (comma-separated)"
    )
    args = parser.parse_args()
    scoring.main(["--sizes", args.sizes])
    dashboard.run()


if __name__ == "__main__":
    main()
