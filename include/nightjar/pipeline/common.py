"""What every step shares: the settings and dataset config of the current process, and
the exception a step raises to decline."""

from __future__ import annotations

from nightjar.core.dataset_config import DatasetConfig, load_dataset_config
from nightjar.core.settings import Settings, load_settings
from nightjar.io.snapshots import Snapshot
from nightjar.pipeline.contracts import SnapshotRef


class StepSkipped(Exception):
    """The step decided not to act (a failed gate, no drift); the message says why."""


def step_context() -> tuple[Settings, DatasetConfig]:
    """Settings and the dataset config, read fresh: every task is a new process."""
    settings = load_settings()
    return settings, load_dataset_config(settings.dataset_config)


def pinned(snapshot: SnapshotRef) -> Snapshot:
    """The I/O layer's view of a run's snapshot."""
    return Snapshot(
        repository=snapshot.repository, branch=snapshot.branch, commit_id=snapshot.commit_id
    )
