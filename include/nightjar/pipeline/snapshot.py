"""The two steps every data-reading DAG shares: open the run's snapshot, and close it."""

from __future__ import annotations

from nightjar.core.run_info import RunInfo
from nightjar.io import snapshots
from nightjar.io.lakefs_client import make_client
from nightjar.pipeline.common import StepSkipped, step_context
from nightjar.pipeline.contracts import SnapshotRef


def open_snapshot(run: RunInfo) -> SnapshotRef:
    """Create the run's lakeFS branch and pin the commit every later step reads."""
    settings, _ = step_context(run)
    snapshot = snapshots.open_run_snapshot(
        make_client(settings), settings.lakefs_repository, run.dag_id, run.run_id
    )
    return SnapshotRef.model_validate(snapshot, from_attributes=True)


def close_snapshot(run: RunInfo, snapshot: SnapshotRef | None) -> None:
    """Delete a finished run's branch; it carried no writes, only the pinned commit.

    A failed run never gets here, so its branch stays for debugging; a run that declined
    before opening one (a guard said no) has nothing to close."""
    if snapshot is None:
        raise StepSkipped("no snapshot was opened: nothing to close")
    settings, _ = step_context(run)
    snapshots.delete_branch(make_client(settings), snapshot.repository, snapshot.branch)
