"""What a pipeline step learns about its Airflow run, from the Task SDK's own types."""

import datetime as dt
from types import SimpleNamespace

from airflow.sdk.api.datamodels._generated import DagRunType

from nightjar.core.run_info import from_context, target_date_of

UTC = dt.UTC


def _context(run_type, conf=None, events=None, start=None, end=None):
    now = dt.datetime(2026, 12, 1, 1, 5, tzinfo=UTC)
    dag_run = SimpleNamespace(
        dag_id="nightjar_monitor", run_id="r1", conf=conf or {}, run_type=run_type, run_after=now
    )
    return {
        "dag_run": dag_run,
        "triggering_asset_events": events or {},
        "data_interval_start": start,
        "data_interval_end": end,
        "logical_date": start,
    }


def _event(**extra):
    return SimpleNamespace(extra=extra)


def test_batched_asset_events_name_every_date_in_order():
    events = {
        "scores": [
            _event(date="2026-03-07", dates=["2026-03-07"]),
            _event(date="2026-03-06"),
            _event(date="2026-03-05", dates=["2026-03-04", "2026-03-05"]),
        ]
    }
    run = from_context(_context(DagRunType.ASSET_TRIGGERED, events=events))
    assert run.run_type == "asset_triggered"
    assert run.target_date == dt.date(2026, 3, 7)
    assert [d.isoformat() for d in run.dates] == [
        "2026-03-04",
        "2026-03-05",
        "2026-03-06",
        "2026-03-07",
    ]
    assert run.for_date(dt.date(2026, 3, 5)).dates == (dt.date(2026, 3, 5),)


def test_one_event_one_date_and_conf_wins():
    one = from_context(
        _context(DagRunType.ASSET_TRIGGERED, events={"s": [_event(date="2026-03-06")]})
    )
    assert one.dates == (dt.date(2026, 3, 6),)
    manual = from_context(
        _context(
            DagRunType.MANUAL,
            conf={"date": "2026-02-01"},
            events={"s": [_event(date="2026-03-06")]},
        )
    )
    assert manual.run_type == "manual" and manual.dates == (dt.date(2026, 2, 1),)


def test_a_nightly_run_covers_its_data_interval():
    start = dt.datetime(2026, 2, 1, 1, tzinfo=UTC)
    run = from_context(_context(DagRunType.BACKFILL, start=start, end=start + dt.timedelta(days=1)))
    assert run.run_type == "backfill" and run.dates == (dt.date(2026, 2, 1),)


def test_a_past_runs_date_follows_the_tasks_rule():
    """What the page uses to say which date a stored run was about."""
    start = dt.datetime(2026, 3, 4, tzinfo=UTC)
    end = start + dt.timedelta(days=1)
    queued = dt.datetime(2026, 12, 6, 2, tzinfo=UTC)
    assert target_date_of({"date": "2026-02-01"}, start, end, start, queued) == dt.date(2026, 2, 1)
    assert target_date_of({}, start, end, start, queued) == dt.date(2026, 3, 4)
    assert target_date_of(None, None, None, None, queued) == dt.date(2026, 12, 6)
