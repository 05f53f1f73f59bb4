"""Run branches and pinned snapshots in lakeFS.

Each DAG run works on its own branch, created from ``main``'s committed head, and
resolves that head to a commit id once, at run start. Every read in the run goes to that
commit id, never to a moving branch head, so a run sees one immutable snapshot however
long it takes and whatever lands on ``main`` meanwhile. Every commit carries lineage
metadata, so the data can be traced back to the run, the code and the producer.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass

import lakefs
from lakefs.exceptions import BadRequestException, NotFoundException

from nightjar import __version__
from nightjar.core.names import run_branch_name, validate_branch, validate_repository
from nightjar.core.vocabulary import COMMIT_RUN_ID
from nightjar.io.lakefs_client import call_with_retry
from nightjar.io.lineage import code_version

log = logging.getLogger(__name__)
MAIN = "main"


@dataclass(frozen=True)
class Snapshot:
    """What a run reads: a repository and an immutable commit, plus the branch it works on."""

    repository: str
    branch: str
    commit_id: str

    def as_dict(self) -> dict[str, str]:
        """JSON-ready form, as a step result."""
        return asdict(self)


def ensure_repository(client: lakefs.Client, repository: str, storage_namespace: str) -> None:
    """Create the repository if it does not exist (idempotent)."""
    repo = lakefs.Repository(validate_repository(repository), client=client)
    call_with_retry(
        client,
        lambda: repo.create(storage_namespace=storage_namespace, exist_ok=True),
        what=f"create repository {repository}",
    )


def resolve_commit(client: lakefs.Client, repository: str, ref: str) -> str:
    """The commit id a ref (branch, tag or commit) points at now."""
    reference = lakefs.Repository(repository, client=client).ref(ref)
    return call_with_retry(client, lambda: reference.get_commit().id, what=f"resolve {ref}")


def commit_details(client: lakefs.Client, repository: str, commit_id: str) -> dict:
    """A commit's id, message, metadata, parents and time, as lakeFS records them; raises
    ``NotFoundException`` when the repository does not hold it."""
    reference = lakefs.Repository(repository, client=client).ref(commit_id)
    commit = call_with_retry(client, reference.get_commit, what=f"read commit {commit_id[:12]}")
    return {
        "id": commit.id,
        "message": commit.message,
        "metadata": dict(commit.metadata or {}),
        "parents": list(commit.parents or []),
        "created_at": dt.datetime.fromtimestamp(commit.creation_date, dt.UTC).isoformat(),
    }


def open_run_snapshot(
    client: lakefs.Client, repository: str, dag_id: str, run_id: str, *, source: str = MAIN
) -> Snapshot:
    """Create (or reuse) the run's branch and pin the commit the run will read.

    A retry of the same run finds its branch already there: staged leftovers from the failed
    attempt are dropped so the retry starts clean, and the branch head, which is still the
    commit the first attempt pinned unless that attempt committed, is pinned again.
    """
    branch_id = run_branch_name(dag_id, run_id)
    repo = lakefs.Repository(repository, client=client)
    branch = call_with_retry(
        client,
        lambda: repo.branch(branch_id).create(source_reference=source, exist_ok=True),
        what=f"create branch {branch_id}",
    )
    call_with_retry(client, lambda: branch.reset_changes("reset"), what=f"reset {branch_id}")
    commit_id = call_with_retry(client, lambda: branch.get_commit().id, what="pin commit")
    log.info(
        "run %s/%s reads lakeFS %s@%s (branch %s)", dag_id, run_id, repository, commit_id, branch_id
    )
    return Snapshot(repository=repository, branch=branch_id, commit_id=commit_id)


def lineage_metadata(
    *, dag_id: str, run_id: str, logical_date: str, produced_by: str
) -> dict[str, str]:
    """The metadata every Nightjar commit carries."""
    return {
        "nightjar.dag_id": dag_id,
        COMMIT_RUN_ID: run_id,
        "nightjar.logical_date": logical_date,
        "nightjar.git_commit": code_version(),
        "nightjar.version": __version__,
        "nightjar.produced_by": produced_by,
    }


def commit(
    client: lakefs.Client, repository: str, branch_id: str, message: str, metadata: dict[str, str]
) -> str:
    """Commit what is staged on ``branch_id``; with nothing staged, return the head unchanged.

    Nothing staged is the normal case for a retried task whose first attempt committed.
    """
    branch = lakefs.Repository(repository, client=client).branch(validate_branch(branch_id))
    try:
        ref = call_with_retry(
            client, lambda: branch.commit(message=message, metadata=metadata), what="commit"
        )
        return ref.get_commit().id
    except BadRequestException as exc:
        if "no changes" not in str(exc).lower():
            raise
        log.info("nothing staged on %s; head stays as it is", branch_id)
        return branch.get_commit().id


def merge_into_main(
    client: lakefs.Client,
    repository: str,
    branch_id: str,
    metadata: dict[str, str],
    message: str | None = None,
) -> str | None:
    """Merge a validated run branch into main; None when it carried no new commits."""
    repo = lakefs.Repository(repository, client=client)
    source = repo.branch(validate_branch(branch_id))
    try:
        return call_with_retry(
            client,
            lambda: source.merge_into(
                repo.branch(MAIN),
                message=message or f"Merge {branch_id} into main",
                metadata=metadata,
            ),
            what=f"merge {branch_id} into main",
        )
    except BadRequestException as exc:
        if "no changes" not in str(exc).lower():
            raise
        log.info("branch %s has nothing new for main", branch_id)
        return None


def delete_branch(client: lakefs.Client, repository: str, branch_id: str) -> None:
    """Delete a run's branch; a branch already gone is not an error."""
    branch = lakefs.Repository(repository, client=client).branch(validate_branch(branch_id))
    try:
        call_with_retry(client, branch.delete, what=f"delete branch {branch_id}")
    except NotFoundException:
        log.info("branch %s already gone", branch_id)


# Branches nobody deletes on failure: failed DAG runs' branches, and the transaction
# branches delta-rs's lakeFS mode leaves behind when a Delta commit loses a race.
PRUNABLE_PREFIXES = ("run-", "delta-tx-")


def prune_run_branches(
    client: lakefs.Client, repository: str, *, older_than: dt.timedelta, now: dt.datetime
) -> list[str]:
    """Delete run and Delta transaction branches whose head commit is older than
    ``older_than``.

    Failed runs keep their branch for debugging; this is the retention policy that
    eventually clears them. Only branches named ``run-*`` or ``delta-tx-*`` are touched.
    """
    repo = lakefs.Repository(repository, client=client)
    cutoff = (now - older_than).timestamp()
    pruned = []
    for prefix in PRUNABLE_PREFIXES:
        for branch in call_with_retry(
            client, lambda prefix=prefix: list(repo.branches(prefix=prefix)), what="list branches"
        ):
            if branch.get_commit().creation_date < cutoff:
                delete_branch(client, repository, branch.id)
                pruned.append(branch.id)
    log.info("pruned %d branch(es) older than %s", len(pruned), older_than)
    return pruned
