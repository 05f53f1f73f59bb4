"""The loop guard's I/O: gather what the retrain rule reads, apply it, record what it said.

Every monitoring run ends here, whichever date it measured. It brings the rule
(``core.retrain_rule``) complete inputs, from the stores alone:

- each scored night's measurement under the version that served it
  (``retrain_signals_*``), measured again from the stored counts when a night scored
  since falls inside its window, and the realised metric of the night whose labels are
  due (``performance_metrics_*``);
- the nights expected to be scored: every date of the base source on main at the run's
  commit, and every scored date;
- the request log, and the as-of date of every model trained (MLflow);

then appends the decisions that changed and a ``requested`` event for each night that
fired and was not requested before. The rule is deterministic, so whichever run gets
here last, in whatever order the runs came, the log ends as one in-order nightly pass
would leave it. The DAG serialises this step per dataset with an Airflow pool, so two
runs never race to append the same request; were they to, readers keep one.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from nightjar.core.catalog import catalog_for
from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.gate_policy import load_policy
from nightjar.core.retrain_rule import Decision, GuardInputs, Thresholds, decide_nights
from nightjar.core.settings import Settings
from nightjar.features.definitions import FEATURE_DATE
from nightjar.io import delta_tables, tracking
from nightjar.io.lakefs_client import make_client
from nightjar.io.raw_tables import list_partitions
from nightjar.io.snapshots import Snapshot
from nightjar.monitoring import night_signals, retrain_log
from nightjar.monitoring.drift import serving_model
from nightjar.scoring import nightly_summary
from nightjar.scoring.scorer import SCORE_DATE, ModelRef

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settled:
    """What one pass of the guard did."""

    decisions: list[Decision]  # every measured night's decision, oldest first
    changed: list[Decision]  # those appended: new, or saying something new
    requested: list[retrain_log.RequestEvent]  # requests this pass made
    waiting: list[retrain_log.RequestEvent]  # earlier requests no retrain run took yet


def settle(
    settings: Settings, config: DatasetConfig, snapshot: Snapshot, *, dag_run_id: str
) -> Settled:
    """Decide every measured night from complete inputs; record what changed."""
    policy = load_policy(config.gate_policy)
    held_to = Thresholds(policy.retrain_triggers, policy.min_primary_metric, policy.primary_metric)
    events = retrain_log.read_events(settings, config)
    inputs = GuardInputs(
        measurements=measurements(settings, config, policy.primary_metric, dag_run_id),
        expected=frozenset(expected_nights(settings, config, snapshot)),
        requests=retrain_log.requests(events),
        trained_as_of=tuple(trained_as_of(settings, config)),
        outcomes=retrain_log.outcomes(events),
    )
    decisions = decide_nights(inputs, config.drift, held_to)
    changed = retrain_log.append_decisions(settings, config, decisions, dag_run_id=dag_run_id)
    now = dt.datetime.now(dt.UTC)
    requested = retrain_log.append_events(
        settings,
        config,
        [
            retrain_log.RequestEvent(
                request_date=d.decision_date,
                event=retrain_log.REQUESTED,
                event_at=now,
                dag_run_id=dag_run_id,
                reason=d.reason,
                model_version=d.model_version,
                signals=d.signals_json(),
            )
            for d in decisions
            if d.fired and d.decision_date not in inputs.requests
        ],
    )
    for decision in changed:
        log.info(
            "retrain decision for %s: %s (%s)",
            decision.decision_date,
            "FIRED" if decision.fired else "pending" if decision.pending else "suppressed",
            decision.reason,
        )
    waiting = sorted(retrain_log.waiting(events).values(), key=lambda e: e.request_date)
    return Settled(decisions, changed, requested, waiting)


def serving_versions(settings: Settings, config: DatasetConfig) -> dict[dt.date, ModelRef]:
    """The version that served each scored night: from the nightly summary, else (a night
    scored before the summary named its champion) from the scores."""
    scored = delta_tables.partition_dates(catalog_for(settings, config).scores, SCORE_DATE)
    summary = delta_tables.read(catalog_for(settings, config).table(nightly_summary.KIND))
    named = {}
    if summary is not None and "champion_run_id" in summary.column_names:
        for row in summary.to_pylist():
            if row.get("champion_run_id"):
                named[row[SCORE_DATE]] = ModelRef(
                    config.model.name, row["champion_version"], row["champion_run_id"], "champion"
                )
    return {night: named.get(night) or serving_model(settings, config, night) for night in scored}


def measurements(settings: Settings, config: DatasetConfig, metric: str, dag_run_id: str) -> dict:
    """Each scored night's measurement under the version that served it; a stale one (a
    night scored since inside its window) is measured again from the stored counts."""
    stored = night_signals.stored_signals(settings, config)
    featured = delta_tables.partition_dates(catalog_for(settings, config).features, FEATURE_DATE)
    realised = realised_metrics(settings, config, metric)
    delay = dt.timedelta(days=config.label.delay_days)
    found = {}
    for night, model in sorted(serving_versions(settings, config).items()):
        row = stored.get((night, model.version))
        if row is None:
            continue  # not monitored yet under this version: its own run will be
        if night_signals.is_stale(row, featured, config.drift.current_window_days):
            log.info("measuring %s again: a night inside its window was scored since", night)
            row = night_signals.measure_night(
                settings, config, night, reports_dir=None, dag_run_id=dag_run_id, model=model
            ).row
        due = realised.get(night - delay)
        same_model = due is not None and due[1] == model.version
        found[night] = night_signals.as_measurement(
            row, (night - delay, due[0]) if same_model else None
        )
    return found


def realised_metrics(
    settings: Settings, config: DatasetConfig, metric: str
) -> dict[dt.date, tuple[float, str]]:
    """The overall realised ``metric`` of each date whose labels were measured, and the
    version that scored it."""
    table = delta_tables.read(
        catalog_for(settings, config).performance_metrics,
        filters=[("segment", "=", "overall"), ("metric", "=", metric)],
        columns=[SCORE_DATE, "value", "model_version"],
    )
    if table is None:
        return {}
    return {row[SCORE_DATE]: (row["value"], row["model_version"]) for row in table.to_pylist()}


def expected_nights(settings: Settings, config: DatasetConfig, snapshot: Snapshot) -> set[dt.date]:
    """Nights that are or will be scored: the base source's dates on main at the run's
    commit, and the scored dates."""
    base = config.sources[config.base_source]
    on_main = list_partitions(
        make_client(settings), snapshot.repository, snapshot.commit_id, base.path
    )
    scored = delta_tables.partition_dates(catalog_for(settings, config).scores, SCORE_DATE)
    return set(on_main) | scored


def trained_as_of(settings: Settings, config: DatasetConfig) -> list[dt.date]:
    """The as-of date of every model trained for the dataset (a finished training run)."""
    experiment = tracking.ensure_experiment(settings, config.name)
    runs = tracking.client(settings).search_runs(
        [experiment], filter_string="attributes.status = 'FINISHED'", max_results=5000
    )
    return sorted(
        dt.date.fromisoformat(run.data.params["as_of"])
        for run in runs
        if run.data.params.get("as_of")
    )
