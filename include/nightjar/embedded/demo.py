"""The demo: the whole loop on the embedded stack, from an empty home to a drift report.

1. ingest ``HISTORY_DAYS`` of seeded credit applications (and their late labels) into lakeFS;
2. run ``nightjar_retrain`` as of the first night: train, gate, register, promote;
3. for each of ``NIGHTS`` nights: ingest that day, run ``nightjar_score``, run
   ``nightjar_monitor`` (drift is injected from ``DRIFT_FROM`` on).

``nightjar demo`` runs every DAG through Airflow's scheduler (``demo_scheduler``), the
way production does: monitoring starts from the scores Asset, a retrain from the
retrain-request Asset. The tests' fast path runs the same loop in-process with
``dag.test()`` (``InProcessRunner``). The dates are fixed, so a second run replaces the
same partitions with the same rows.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Protocol

from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.errors import DagRunFailedError
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import DATASET_SEPARATOR, dag_id
from nightjar.embedded import demo_data
from nightjar.ingest.landing import Batch, ingest, init_repositories
from nightjar.io.lakefs_client import make_client

log = logging.getLogger(__name__)
FIRST_NIGHT = dt.date(2026, 3, 1)
NIGHTS = 7
HISTORY_DAYS = 180
DATA_START = FIRST_NIGHT - dt.timedelta(days=HISTORY_DAYS)
DRIFT_FROM = dt.date(2026, 3, 4)
DEMO_SPEC = demo_data.DemoSpec(drift_from=DRIFT_FROM)


def ingest_days(
    settings: Settings,
    config: DatasetConfig,
    days: list[dt.date],
    *,
    spec: demo_data.DemoSpec = DEMO_SPEC,
) -> None:
    """Land applications and the labels that arrive on each of ``days`` on lakeFS main."""
    client = make_client(settings)
    batches = []
    for day in days:
        batches.append(Batch("applications", day, demo_data.applications_for(day, spec)))
        if day - dt.timedelta(days=spec.label_delay_days) >= DATA_START:
            batches.append(Batch("labels", day, demo_data.labels_arriving_on(day, spec)))
    label = f"{days[0]:%Y%m%d}-{days[-1]:%Y%m%d}"
    ingest(
        client,
        config,
        settings.lakefs_repository,
        f"ingest-demo-{label}",
        batches,
        message=f"demo data {days[0]}..{days[-1]}",
        metadata={"nightjar.produced_by": "nightjar demo", "nightjar.seed": str(spec.seed)},
    )


class DagRunner(Protocol):
    """Runs the demo's DAGs: in this process with ``dag.test()``, or through the scheduler."""

    def run(self, dag_id: str, day: dt.date, conf: dict[str, Any]) -> str:
        """Run ``dag_id`` for ``day`` and return its final state."""

    def after_scoring(self, day: dt.date) -> None:
        """Whatever follows a night's scoring run: monitoring, and a retrain it requests."""


class InProcessRunner:
    """``dag.test()`` in this process: fast, for tests; Asset events trigger nothing, so
    monitoring is run explicitly after each night's scoring."""

    def run(self, dag_id: str, day: dt.date, conf: dict[str, Any]) -> str:
        """Run a DAG for ``day`` in this process with ``dag.test()``; return the run's state."""
        from airflow.dag_processing.dagbag import DagBag

        from nightjar.core.settings import PROJECT_ROOT

        stage_file = dag_id.partition(DATASET_SEPARATOR)[0]  # nightjar_score__x: nightjar_score.py
        bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / f"{stage_file}.py"))
        if bag.import_errors:
            raise RuntimeError(f"{dag_id} failed to import: {bag.import_errors}")
        logical = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        dag_run = bag.dags[dag_id].test(
            logical_date=logical, run_conf={"date": day.isoformat(), **conf}
        )
        state = str(getattr(dag_run, "state", dag_run))
        log.info("%s for %s finished: %s", dag_id, day, state)
        return state

    def __init__(self, dataset: str) -> None:
        self.dataset = dataset

    def after_scoring(self, day: dt.date) -> None:
        """Monitor ``day`` the way the scores Asset would start it."""
        monitor = dag_id("monitor", self.dataset)
        _require_success(monitor, self.run(monitor, day, {}))


def run_demo(
    settings: Settings,
    config: DatasetConfig,
    *,
    runner: DagRunner,
    nights: int = NIGHTS,
    spec: demo_data.DemoSpec = DEMO_SPEC,
) -> None:
    """Run the whole loop; the embedded stack must be up (and, for ``InProcessRunner``,
    Airflow's DB migrated)."""
    init_repositories(settings)
    history = [DATA_START + dt.timedelta(days=i) for i in range(HISTORY_DAYS)]
    log.info("ingesting %d days of history (%s..%s)", len(history), history[0], history[-1])
    ingest_days(settings, config, history, spec=spec)
    trained_as_of = FIRST_NIGHT - dt.timedelta(days=1)
    retrain, score = dag_id("retrain", config.name), dag_id("score", config.name)
    state = runner.run(retrain, trained_as_of, {"intent": "demo: first model", "force": True})
    _require_success(retrain, state)
    for night in (FIRST_NIGHT + dt.timedelta(days=i) for i in range(nights)):
        ingest_days(settings, config, [night], spec=spec)
        _require_success(score, runner.run(score, night, {}))
        runner.after_scoring(night)


def _require_success(dag_id: str, state: str) -> None:
    if "success" not in state.lower():
        raise DagRunFailedError(f"{dag_id} ended in state {state}; see its task logs")
