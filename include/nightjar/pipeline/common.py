"""What every step shares: the settings and the config of its run's dataset, and the
exception a step raises to decline."""

from __future__ import annotations

from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.datasets import load_datasets, settings_for
from nightjar.core.run_info import RunInfo
from nightjar.core.settings import Settings, load_settings
from nightjar.io.snapshots import Snapshot
from nightjar.pipeline.contracts import SnapshotRef


class StepSkipped(Exception):
    """The step decided not to act (a failed gate, no drift); the message says why."""


def step_context(run: RunInfo) -> tuple[Settings, DatasetConfig]:
    """Settings and the config of the run's dataset (its DAG's), read fresh for each task:
    nothing a task before it in the same process set is taken for granted."""
    settings = load_settings()
    config = load_datasets(settings).one(run.dataset)
    return settings_for(settings, config), config


def pinned(snapshot: SnapshotRef) -> Snapshot:
    """The I/O layer's view of a run's snapshot."""
    return Snapshot(
        repository=snapshot.repository, branch=snapshot.branch, commit_id=snapshot.commit_id
    )
