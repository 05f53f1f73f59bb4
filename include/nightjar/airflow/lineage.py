"""A task's OpenLineage datasets, emitted through Airflow's OpenLineage provider.

The provider's listener already sends each task's START, COMPLETE and FAIL events (a FAIL
carries the error). It cannot see what a TaskFlow task read or wrote, so ``run_step``
collects what the step's I/O noted (``nightjar.core.lineage_record``) and hands it to the
provider's in-task API, ``emit_dataset_lineage``. That sends one RUNNING event of the same
run and job, with:

- inputs: the lakeFS tables read at their commit, the Delta tables read at their version,
  the model version loaded;
- outputs: each Delta table written, with the version its commit created
  (``version``), the partition replaced (``subset``) and the rows written
  (``outputStatistics``), and a registered model version.

Lineage never fails a task: building or sending the event is logged as a warning if it
fails, and the provider does nothing when no transport is configured. A step that ends in
a skip (a failed gate, a night with no retrain) still reports what it wrote first.
"""

from __future__ import annotations

import logging

from nightjar.core.lineage_record import DatasetRecord, StepLineage

log = logging.getLogger(__name__)


def emit_step_lineage(collected: StepLineage) -> None:
    """Emit the step's datasets as a RUNNING event of the current task's run; a failure
    to build or send it is a warning in the task's log, never the task's failure."""
    if not (collected.inputs or collected.outputs):
        return
    try:
        _emit(collected)
    except Exception:
        log.warning("lineage: the step's datasets could not be emitted", exc_info=True)


def _emit(collected: StepLineage) -> None:
    from airflow.providers.openlineage.api import emit_dataset_lineage
    from openlineage.client.event_v2 import InputDataset, OutputDataset

    emit_dataset_lineage(
        inputs=[InputDataset(r.namespace, r.name, facets=_facets(r)) for r in collected.inputs],
        outputs=[
            OutputDataset(r.namespace, r.name, facets=_facets(r), outputFacets=_written(r))
            for r in collected.outputs
        ],
    )
    log.info(
        "lineage: read %s; wrote %s",
        ", ".join(map(_label, collected.inputs)) or "nothing",
        ", ".join(map(_label, collected.outputs)) or "nothing",
    )


def _facets(record: DatasetRecord) -> dict:
    from openlineage.client.facet_v2 import dataset_version_dataset

    if record.version is None:
        return {}
    return {"version": dataset_version_dataset.DatasetVersionDatasetFacet(record.version)}


def _written(record: DatasetRecord) -> dict:
    from openlineage.client.facet_v2 import base_subset_dataset
    from openlineage.client.facet_v2 import output_statistics_output_dataset as statistics

    facets = {}
    if record.rows is not None:
        facets["outputStatistics"] = statistics.OutputStatisticsOutputDatasetFacet(record.rows)
    if record.partitions:
        condition = base_subset_dataset.PartitionSubsetCondition(
            partitions=[base_subset_dataset.Partition(dimensions=p) for p in record.partitions]
        )
        facets["subset"] = base_subset_dataset.OutputSubsetOutputDatasetFacet(condition)
    return facets


def _label(record: DatasetRecord) -> str:
    where = f"{record.namespace}/{record.name}"
    return f"{where}@{record.version[:12]}" if record.version else where
