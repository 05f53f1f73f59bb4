"""The datasets a step noted become OpenLineage datasets with the promised facets."""

import datetime as dt
import uuid

from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
from openlineage.client.serde import Serde

from nightjar.airflow.lineage import _facets, _written
from nightjar.core import lineage_record as lr
from tests.openlineage.events import schema_errors


def _event(inputs, outputs) -> dict:
    from openlineage.client.event_v2 import InputDataset, OutputDataset

    event = RunEvent(
        eventType=RunState.RUNNING,
        eventTime=dt.datetime.now(dt.UTC).isoformat(),
        run=Run(runId=str(uuid.uuid4())),
        job=Job(namespace="nightjar", name="nightjar_score.score"),
        producer="https://github.com/apache/airflow/tree/providers-openlineage/2.20.3",
        inputs=[InputDataset(r.namespace, r.name, facets=_facets(r)) for r in inputs],
        outputs=[
            OutputDataset(r.namespace, r.name, facets=_facets(r), outputFacets=_written(r))
            for r in outputs
        ],
    )
    return Serde.to_dict(event)


def test_a_scoring_steps_datasets_carry_commit_version_partition_and_rows():
    commit = "ab" * 32
    raw = lr.lakefs_dataset("nightjar", "raw/applications", commit)
    model = lr.model_dataset("http://127.0.0.1:5000", "credit_default", "3")
    scores = lr.delta_dataset(
        "/h/warehouse/scores_credit_default", 12, partition={"score_date": "2026-03-05"}, rows=800
    )
    event = _event([raw, model], [scores])
    assert schema_errors(event) == []
    first, second = event["inputs"]
    assert first["namespace"] == "lakefs://nightjar" and first["name"] == "raw/applications"
    assert first["facets"]["version"]["datasetVersion"] == commit
    assert second["name"] == "models/credit_default"
    assert second["facets"]["version"]["datasetVersion"] == "3"
    (written,) = event["outputs"]
    assert written["facets"]["version"]["datasetVersion"] == "12"
    assert written["outputFacets"]["outputStatistics"]["rowCount"] == 800
    condition = written["outputFacets"]["subset"]["outputCondition"]
    assert condition["partitions"] == [{"dimensions": {"score_date": "2026-03-05"}}]


def test_the_schema_rejects_an_event_that_breaks_the_convention():
    event = _event([lr.lakefs_dataset("nightjar", "raw/applications", "c" * 64)], [])
    del event["inputs"][0]["facets"]["version"]["datasetVersion"]
    event["eventTime"] = "yesterday"
    errors = schema_errors(event)
    assert any("datasetVersion" in e for e in errors), errors
    assert any(e.startswith("eventTime") for e in errors), errors
