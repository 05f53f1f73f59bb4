"""Airflow's Celery worker, with task processes that start warm.

``airflow celery worker`` runs Celery's prefork pool from its own process: the pool's
processes are forked from it, and Airflow's supervisor forks each task process from a
pool process (``os.fork``, no exec). So, as with ``nightjar.airflow.executor``'s
LocalExecutor, a task starts with whatever the worker had imported; on a stock worker
that is Airflow alone, and every task imported Nightjar's stack again (17 s of CPU for
all of it, measured 2026-12-07; each task imports the part its step needs).

This entry point imports that stack once, in the worker, and then runs Airflow's own CLI
in the same process (``python -m nightjar.airflow.celery_worker celery worker ...``, which
``nightjar airflow worker`` runs). As in the executor, it only imports: no client,
session, engine, JVM or thread pool exists before Celery forks its pool, and every task
builds its own from its own settings. Each task's first log line says it started warm.
"""

from __future__ import annotations

import sys

from nightjar.airflow.executor import preload


def main(argv: list[str] | None = None) -> None:
    """Preload Nightjar's stack, then run ``airflow`` with ``argv`` in this process."""
    imported, seconds = preload()
    print(f"preloaded {imported} modules in {seconds:.1f} s: task processes fork warm",
          file=sys.stderr, flush=True)  # fmt: skip
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", *(sys.argv[1:] if argv is None else argv)]
    airflow_main()


if __name__ == "__main__":
    main()
