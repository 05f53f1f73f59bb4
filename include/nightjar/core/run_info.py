"""What a pipeline step needs to know about the Airflow run it belongs to.

The pipeline functions take a ``RunInfo`` rather than Airflow's context, so they can be
called and tested without Airflow; ``from_context`` is the one adapter.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, replace
from typing import Any

from nightjar.core.names import parse_date
from nightjar.core.vocabulary import DATASET_SEPARATOR


@dataclass(frozen=True)
class RunInfo:
    """What a step needs to know about its DAG run; every date it uses derives from the logical
    date, so a rerun is deterministic."""

    dag_id: str
    run_id: str
    logical_date: str  # ISO timestamp; for asset-triggered runs, the run's start
    target_date: dt.date  # the date the run is about: scored date, or training as-of date
    interval_end: dt.datetime
    interval_start: dt.datetime | None = None  # set when the run covers a non-empty interval
    # Every date named by the Asset events that triggered the run, oldest first: Airflow
    # batches the events that arrive between two runs of a consumer into one run.
    event_dates: tuple[dt.date, ...] = ()
    run_type: str = "manual"  # Airflow's: manual, scheduled, backfill, asset_triggered

    @property
    def dataset(self) -> str | None:
        """The dataset the run is about: its DAG's (``nightjar_score__credit_default``),
        or None for a DAG id without one (then the only dataset)."""
        return dataset_of(self.dag_id)

    @property
    def dates(self) -> tuple[dt.date, ...]:
        """The dates this run must handle, in order (one, unless events were batched)."""
        return self.event_dates or (self.target_date,)

    def for_date(self, day: dt.date) -> RunInfo:
        """The same run, about one of its dates."""
        return replace(self, target_date=day, event_dates=())

    def as_tags(self) -> dict[str, str]:
        """The run's identity as MLflow tags."""
        return {"dag_id": self.dag_id, "run_id": self.run_id, "logical_date": self.logical_date}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (dates as ISO strings)."""
        data = asdict(self)
        data["target_date"] = self.target_date.isoformat()
        data["interval_end"] = self.interval_end.isoformat()
        data["interval_start"] = self.interval_start and self.interval_start.isoformat()
        data["event_dates"] = [day.isoformat() for day in self.event_dates]
        return data


def dataset_of(dag_id: str) -> str | None:
    """The dataset in a Nightjar DAG id (``<stage>__<dataset>``), or None."""
    _, separator, dataset = dag_id.partition(DATASET_SEPARATOR)
    return dataset if separator and dataset else None


def from_context(context: Any) -> RunInfo:
    """The run's identity and target date, from conf, the data interval or the run time.

    ``conf["date"]`` (YYYY-MM-DD) wins, for manual runs and the demo; then the run's
    partition key (a partitioned Asset's run: monitoring gets one run per scored date);
    then the dates the upstream Asset events carried (batched events name several, all
    kept in ``event_dates`` and the newest the target); otherwise the data interval's
    start (the day a nightly run covers), else the logical date, else, for
    asset-triggered runs, the date the run was queued for.
    """
    dag_run = context["dag_run"]
    conf = dict(getattr(dag_run, "conf", None) or {})
    event_dates: tuple[dt.date, ...] = ()
    partition_key = context.get("partition_key") or getattr(dag_run, "partition_key", None)
    if "date" not in conf and partition_key:
        conf["date"] = partition_key
    elif "date" not in conf and (event_dates := _triggering_dates(context)):
        conf["date"] = event_dates[-1].isoformat()
    start = context.get("data_interval_start")
    end = context.get("data_interval_end")
    logical = context.get("logical_date")
    run_after = getattr(dag_run, "run_after", None)
    anchor = start or logical or run_after
    target = target_date_of(conf, start, end, logical, run_after)
    interval_end = end or logical or run_after
    if "date" in conf:
        interval_end = dt.datetime.combine(target + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return RunInfo(
        dag_id=dag_run.dag_id,
        run_id=dag_run.run_id,
        logical_date=(logical or anchor).isoformat(),
        target_date=target,
        interval_end=interval_end,
        interval_start=start if start is not None and end is not None and end > start else None,
        event_dates=event_dates if len(event_dates) > 1 else (),
        run_type=_run_type(dag_run),
    )


def target_date_of(
    conf: dict[str, Any] | None,
    interval_start: dt.datetime | None,
    interval_end: dt.datetime | None,
    logical_date: dt.datetime | None,
    run_after: dt.datetime | None,
) -> dt.date:
    """The date a run is about, from what Airflow stores of it: ``conf["date"]``, else the
    data interval's start (a nightly run covers that day), else the logical date, else the
    time it was queued for. One rule, for a running task and for the page that asks which
    date a past run was about."""
    if conf and "date" in conf:
        return parse_date(conf["date"])
    if interval_start is not None and interval_end is not None and interval_end > interval_start:
        return interval_start.date()
    anchor = interval_start or logical_date or run_after
    if anchor is None:
        raise ValueError("a run with no date, interval, logical date or queue time")
    return anchor.date()


def _run_type(dag_run: Any) -> str:
    """Airflow's run type as its plain value (``str()`` of the Task SDK's enum gives
    ``DagRunType.ASSET_TRIGGERED``, not ``asset_triggered``)."""
    run_type = getattr(dag_run, "run_type", None)
    return str(getattr(run_type, "value", run_type) or "manual")


def _triggering_dates(context: Any) -> tuple[dt.date, ...]:
    """Every date (``date`` and ``dates`` extras) of the Asset events that triggered this
    run, validated, without repeats, oldest first."""
    events = context.get("triggering_asset_events") or {}
    named: set[str] = set()
    for asset_events in events.values():
        for event in asset_events:
            extra = getattr(event, "extra", None)
            if not isinstance(extra, dict):
                continue
            if "date" in extra:
                named.add(extra["date"])
            named.update(extra.get("dates") or ())
    return tuple(sorted(parse_date(day) for day in named))
