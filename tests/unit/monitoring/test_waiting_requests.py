"""A request Airflow never delivered (nightjar_retrain paused when it was made) waits in
the log until a retrain run takes it; a run takes each request once."""

import datetime as dt

from nightjar.monitoring.retrain_log import (
    DECLINED,
    REQUESTED,
    STARTED,
    TRAINED,
    RequestEvent,
    taken_by,
    waiting,
)

AT = dt.datetime(2026, 3, 20, tzinfo=dt.UTC)
D1, D2, D3 = dt.date(2026, 3, 10), dt.date(2026, 3, 12), dt.date(2026, 3, 14)


def _event(day: dt.date, kind: str, run: str) -> RequestEvent:
    return RequestEvent(day, kind, AT, run, "test")


LOG = [
    _event(D1, REQUESTED, "monitor_a"),
    _event(D1, STARTED, "retrain_1"),
    _event(D1, TRAINED, "retrain_1"),
    _event(D2, REQUESTED, "monitor_b"),
    _event(D2, DECLINED, "retrain_2"),
    _event(D3, REQUESTED, "monitor_c"),
]


def test_only_a_request_no_run_took_is_waiting():
    assert list(waiting(LOG)) == [D3]
    assert waiting(LOG)[D3].dag_run_id == "monitor_c"


def test_a_run_has_taken_what_it_started_or_declined():
    assert taken_by(LOG, "retrain_1") == {D1}
    assert taken_by(LOG, "retrain_2") == {D2}
    assert taken_by(LOG, "retrain_3") == set()


def test_once_taken_a_request_waits_no_more():
    taken = [*LOG, _event(D3, STARTED, "retrain_3")]
    assert waiting(taken) == {}
