"""Monitoring runs in any order, repeated, interleaved or at once leave the decisions and
the request log that one in-order nightly pass leaves.

A monitoring run is two steps that touch the stores: it measures its night (the night's
row of ``retrain_signals_*``), then the loop guard settles every night it has complete
inputs for (``loop_guard.settle``: the real Delta tables, the real lakeFS listing of the
base source at main's commit, the real MLflow trainings). Hypothesis draws which nights
are scored (one may land on main and never be scored), which breach, which runs happen
(every scored night at least once, some twice), in which order, how their two steps
interleave, and whether two threads run them at once. A retrain consumes each request as
soon as the step that made it ends, with an outcome fixed by the request's date (every
other one fails its gate). The in-order pass does the same nights one after the other,
in a warehouse of its own; both must end with the same decision in force for every night
and the same requests.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from nightjar.core.settings import Settings
from nightjar.embedded import demo_data
from nightjar.features.definitions import FEATURE_DATE
from nightjar.ingest.landing import Batch, ingest, init_repositories
from nightjar.io import delta_tables, tracking
from nightjar.io.lakefs_client import make_client
from nightjar.io.snapshots import MAIN, Snapshot, resolve_commit
from nightjar.monitoring import loop_guard, night_signals, retrain_log
from nightjar.scoring import nightly_summary
from nightjar.scoring.scorer import SCORE_DATE

pytestmark = pytest.mark.slow  # about 60 s: dozens of guard passes per example
REPOSITORY = "guard-order"
FIRST = dt.date(2026, 3, 1)
NIGHTS = [FIRST + dt.timedelta(days=i) for i in range(9)]
TRAINED_AS_OF = FIRST - dt.timedelta(days=1)
SPEC = demo_data.DemoSpec(rows_per_day=20, customers=100)


@pytest.fixture(scope="module")
def world(settings, config, embedded_stack, tmp_path_factory):
    """The dataset under its own name (its own tables and MLflow experiment), its raw
    applications of every night on main of its own repository, and the trained champion."""
    ours = config.model_copy(update={"name": "guard_order"})
    base = settings.model_copy(update={"lakefs_repository": REPOSITORY})
    init_repositories(base)
    client = make_client(base)
    batches = [Batch("applications", day, demo_data.applications_for(day, SPEC)) for day in NIGHTS]
    ingest(client, ours, REPOSITORY, "ingest-guard-order", batches, message="nights",
           metadata={})  # fmt: skip
    commit = resolve_commit(client, REPOSITORY, MAIN)
    mlflow = tracking.client(base)
    run = mlflow.create_run(tracking.ensure_experiment(base, ours.name))
    mlflow.log_param(run.info.run_id, "as_of", TRAINED_AS_OF.isoformat())
    mlflow.set_terminated(run.info.run_id)
    return {
        "config": ours,
        "settings": base,
        "snapshot": Snapshot(REPOSITORY, MAIN, commit),
        "run_id": run.info.run_id,
        "warehouses": tmp_path_factory.mktemp("warehouses"),
    }


class Warehouse:
    """One warehouse of scored nights, and the two steps of a monitoring run on it."""

    def __init__(self, world, name: str, scored: list[dt.date], breaching: set[dt.date]):
        root: Path = world["warehouses"] / name
        self.settings: Settings = world["settings"].model_copy(update={"warehouse_uri": str(root)})
        self.config, self.snapshot = world["config"], world["snapshot"]
        self.run_id, self.breaching = world["run_id"], breaching
        for night in scored:
            self._score(night)

    def _score(self, night: dt.date) -> None:
        """What a scoring run leaves: a features and a scores partition, a summary row."""
        row = {self.config.entity_key: f"{night}-1", "probability": 0.3, "decision": False,
               "model_version": "1"}  # fmt: skip
        for kind, column in (("features", FEATURE_DATE), ("scores", SCORE_DATE)):
            delta_tables.replace_partition(
                self.settings.table_uri(self.config.table_name(kind)),
                pa.Table.from_pylist([{**row, column: night}]),
                partition_column=column,
                value=night,
            )
        nightly_summary.record_night(
            self.settings, self.config, night, champion_version="1", champion_run_id=self.run_id
        )

    def measure(self, night: dt.date) -> None:
        """The run's first step: its night's signals, as ``measure_night`` stores them."""
        row = {
            SCORE_DATE: night,
            "model_version": "1",
            "model_run_id": self.run_id,
            "trained_as_of": TRAINED_AS_OF,
            "window_nights": [night],
            "prediction_psi": 0.6 if night in self.breaching else 0.02,
            "drifted_features": [],
            "monitored_features": 11,
            "drifted_importance_share": 0.0,
            "estimated_roc_auc": 0.7,
            "expected_roc_auc": 0.7,
            "rows": 1,
            "measured_at": dt.datetime.now(dt.UTC),
            "dag_run_id": f"monitor-{night}",
        }
        delta_tables.replace_date_range(
            self.settings.table_uri(self.config.table_name(night_signals.KIND)),
            pa.Table.from_pylist([row], schema=night_signals.SCHEMA),
            partition_column=SCORE_DATE,
            start=night,
            end=night,
            only_where={"model_version": "1"},
        )

    def settle(self, night: dt.date) -> None:
        """The run's second step, and the retrain that consumes what it requested."""
        settled = loop_guard.settle(
            self.settings, self.config, self.snapshot, dag_run_id=f"monitor-{night}"
        )
        now = dt.datetime.now(dt.UTC)
        retrain_log.append_events(
            self.settings,
            self.config,
            [
                retrain_log.RequestEvent(
                    request.request_date,
                    retrain_log.TRAINED
                    if request.request_date.toordinal() % 2
                    else retrain_log.GATE_FAILED,
                    now,
                    f"retrain-{request.request_date}",
                    "consumed",
                )
                for request in settled.requested
            ],
        )

    def outcome(self) -> tuple[dict, list]:
        decided = retrain_log.decisions_in_force(self.settings, self.config)
        said = {
            day: (d.fired, d.pending, d.reason, d.breached, d.breaches_in_window)
            for day, d in decided.items()
        }
        events = retrain_log.read_events(self.settings, self.config)
        return said, sorted(retrain_log.requests(events))


@st.composite
def monitoring(draw):
    unscored = draw(st.sampled_from([None, *NIGHTS[1:-1]]))
    scored = [night for night in NIGHTS if night != unscored]
    breaching = set(draw(st.lists(st.sampled_from(NIGHTS), unique=True, max_size=6)))
    repeats = draw(st.lists(st.sampled_from(scored), max_size=3))
    runs = draw(st.permutations([*scored, *repeats]))
    # Each run's two steps: the earlier of its two drawn positions measures, the later settles.
    order = draw(st.permutations([(i, step) for i in range(len(runs)) for step in (0, 1)]))
    seen, steps = set(), []
    for index, _ in order:
        steps.append(("settle" if index in seen else "measure", runs[index]))
        seen.add(index)
    return scored, breaching, steps, draw(st.booleans())


@hypothesis_settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(drawn=monitoring())
def test_any_order_of_monitoring_runs_gives_the_in_order_decisions_and_requests(world, drawn):
    scored, breaching, steps, at_once = drawn
    name = f"example-{len(list(world['warehouses'].iterdir()))}"
    in_order = Warehouse(world, f"{name}-in-order", scored, breaching)
    for night in scored:
        in_order.measure(night)
        in_order.settle(night)
    shuffled = Warehouse(world, f"{name}-shuffled", scored, breaching)
    if at_once:  # two workers, each taking the next step: some steps overlap
        queue, errors = list(steps), []
        lock = threading.Lock()

        def worker():
            while True:
                with lock:
                    if not queue:
                        return
                    step, night = queue.pop(0)
                try:
                    getattr(shuffled, step)(night)
                except Exception as exc:  # surfaced below
                    errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        shuffled.settle(NIGHTS[-1])  # the last run's guard pass, after every measurement
    else:
        for step, night in steps:
            getattr(shuffled, step)(night)
    expected, got = in_order.outcome(), shuffled.outcome()
    assert got[1] == expected[1], "the requests differ"
    differing = {
        day: (expected[0].get(day), got[0].get(day))
        for day in expected[0].keys() | got[0].keys()
        if expected[0].get(day) != got[0].get(day)
    }
    assert differing == {}, pd.Series(differing).to_string()
