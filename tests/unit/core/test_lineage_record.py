"""The lineage naming convention and the scope notes are collected in."""

import datetime as dt
import threading

from nightjar.core import lineage_record as lr


def test_names_follow_the_documented_convention():
    raw = lr.lakefs_dataset("nightjar", "/raw/applications/", "c0ffee" * 10)
    assert (raw.namespace, raw.name, raw.version) == (
        "lakefs://nightjar",
        "raw/applications",
        "c0ffee" * 10,
    )
    local = lr.delta_dataset("/home/u/.nightjar/warehouse/scores_x", 7)
    assert (local.namespace, local.name, local.version) == (
        "file",
        "/home/u/.nightjar/warehouse/scores_x",
        "7",
    )
    s3 = lr.delta_dataset("s3://bucket/warehouse/scores_x/", 3)
    assert (s3.namespace, s3.name) == ("s3://bucket", "warehouse/scores_x")
    on_lakefs = lr.delta_dataset("lakefs://nightjar/main/warehouse/scores_x", 0)
    assert (on_lakefs.namespace, on_lakefs.name) == ("lakefs://nightjar", "main/warehouse/scores_x")
    written = lr.delta_dataset("/w/t", 2, partition={"score_date": dt.date(2026, 3, 5)}, rows=10)
    assert written.partitions == ({"score_date": "2026-03-05"},) and written.rows == 10
    model = lr.model_dataset("http://127.0.0.1:5000", "credit_default", "4")
    assert (model.namespace, model.name, model.version) == (
        "mlflow://127.0.0.1:5000",
        "models/credit_default",
        "4",
    )
    assert lr.model_dataset("sqlite:////h/mlflow.db", "m", "1").namespace == "mlflow://local"


def test_notes_are_kept_only_inside_a_recording_and_once_each():
    lr.note_input(lr.lakefs_dataset("r", "p", "c"))  # outside: goes nowhere
    assert not lr.is_recording()
    with lr.recording() as collected:
        assert lr.is_recording()
        for _ in range(2):
            lr.note_input(lr.lakefs_dataset("r", "p", "c"))
        lr.note_output(lr.delta_dataset("/w/t", 1, rows=3))
        with lr.recording() as inner:  # a nested scope collects its own
            lr.note_input(lr.lakefs_dataset("r", "q", "c"))
    assert [r.name for r in collected.inputs] == ["p"]
    assert [r.name for r in inner.inputs] == ["q"]
    assert [r.rows for r in collected.outputs] == [3]
    assert not lr.is_recording()


def test_a_thread_started_by_a_step_does_not_write_into_its_scope():
    with lr.recording() as collected:
        thread = threading.Thread(target=lr.note_input, args=(lr.lakefs_dataset("r", "p", "c"),))
        thread.start()
        thread.join()
    assert collected.inputs == []
