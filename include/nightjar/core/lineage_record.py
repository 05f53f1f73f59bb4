"""What a pipeline step read and wrote, noted where the I/O happens, for OpenLineage.

The I/O layer knows the facts lineage needs: the lakeFS commit a raw table was read at,
the Delta version a write created, the partition it replaced and its row count, the
model version loaded or registered. The task that called it does not. So each I/O
function notes what it did here, and the Airflow glue collects the notes of one step
(``recording``) and emits them as that task's OpenLineage datasets.

Outside ``recording`` (the CLI, the tests, a benchmark) a note goes nowhere. The scope is
a ``ContextVar``: each task process runs one step, and a thread that a step starts sees
no scope unless it copies the context.

Names follow one convention, documented in docs/lineage.md, since OpenLineage has none
for lakeFS or Delta yet:

- a lakeFS object or table: namespace ``lakefs://<repository>``, name its path, version
  the commit id;
- a Delta table: its storage URI split OpenLineage's way (``file`` + absolute path,
  ``s3://<bucket>`` + key, ``lakefs://<repository>`` + ``<ref>/<path>``), version the
  Delta table version;
- a registered model: namespace ``mlflow://<tracking host>``, name
  ``models/<name>``, version the model version.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit


@dataclass(frozen=True)
class DatasetRecord:
    """One dataset as OpenLineage names it, at one version; for outputs, what was written."""

    namespace: str
    name: str
    version: str | None = None
    partitions: tuple[dict[str, str], ...] = ()
    rows: int | None = None


@dataclass
class StepLineage:
    """Every dataset one step read and wrote, in the order it first touched them, each
    once."""

    inputs: list[DatasetRecord] = field(default_factory=list)
    outputs: list[DatasetRecord] = field(default_factory=list)

    def add(self, records: list[DatasetRecord], record: DatasetRecord) -> None:
        """One record per dataset (namespace and name): a later read or write of the same
        dataset takes the newest version, and a second write adds its partitions and rows."""
        for i, known in enumerate(records):
            if (known.namespace, known.name) != (record.namespace, record.name):
                continue
            if known != record:  # another write (or a later read): the newest version
                both = known.rows is not None and record.rows is not None
                records[i] = replace(
                    record,
                    rows=known.rows + record.rows if both else record.rows,
                    partitions=(*known.partitions, *record.partitions),
                )
            return
        records.append(record)


_current: ContextVar[StepLineage | None] = ContextVar("nightjar_step_lineage", default=None)


@contextmanager
def recording() -> Iterator[StepLineage]:
    """Collect the notes of everything run inside the block."""
    collected = StepLineage()
    token = _current.set(collected)
    try:
        yield collected
    finally:
        _current.reset(token)


def is_recording() -> bool:
    """Whether a step is collecting notes (so noting is worth its cost)."""
    return _current.get() is not None


def note_input(record: DatasetRecord) -> None:
    """Note a dataset read (a no-op outside ``recording``)."""
    if (collected := _current.get()) is not None:
        collected.add(collected.inputs, record)


def note_output(record: DatasetRecord) -> None:
    """Note a dataset written (a no-op outside ``recording``)."""
    if (collected := _current.get()) is not None:
        collected.add(collected.outputs, record)


def lakefs_dataset(repository: str, path: str, commit_id: str) -> DatasetRecord:
    """A lakeFS table or object read at a commit."""
    return DatasetRecord(f"lakefs://{repository}", path.strip("/"), commit_id)


def delta_dataset(
    uri: str,
    version: int | None,
    *,
    partition: dict[str, str | dt.date] | None = None,
    rows: int | None = None,
) -> DatasetRecord:
    """A Delta table by its storage URI, at a table version (with, for a write, the
    partition it replaced and the rows it wrote)."""
    parts = urlsplit(uri)
    if parts.scheme in ("", "file"):
        namespace, name = "file", parts.path
    else:
        namespace, name = f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")
    return DatasetRecord(
        namespace,
        name.rstrip("/"),
        None if version is None else str(version),
        ({k: str(v) for k, v in partition.items()},) if partition else (),
        rows,
    )


def model_dataset(tracking_uri: str, name: str, version: str) -> DatasetRecord:
    """A registered model version, under the tracking server it is registered in."""
    parts = urlsplit(tracking_uri)
    where = parts.netloc or "local"
    return DatasetRecord(f"mlflow://{where}", f"models/{name}", str(version))
