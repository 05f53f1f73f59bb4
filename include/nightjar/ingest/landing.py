"""Getting raw data onto lakeFS main: branch, upload, validate, commit, merge.

Main is protected, so this is the only way data reaches it: every batch is validated
with the dataset's pandera rules before the merge, and a bad batch is refused with a
report while main stays as it was. The ingest branch is kept on failure for inspection.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

import lakefs
import pandas as pd
from lakefs_sdk.models import BranchProtectionRule

from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.names import validate_branch
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import COMMIT_RUN_ID
from nightjar.ingest.validation import (
    PARTITION_COLUMN,
    DataValidationError,
    ValidatedBatch,
    validate_raw,
)
from nightjar.io import raw_tables, snapshots
from nightjar.io.lakefs_client import call_with_retry, make_client

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Batch:
    """One source's rows for one date, to land on lakeFS."""

    source: str
    day: dt.date
    frame: pd.DataFrame


def protect_main(client: lakefs.Client, repository: str) -> None:
    """Refuse direct writes to main: data arrives only through validated merges."""
    api = client.sdk_client.repositories_api
    rules = call_with_retry(
        client, lambda: api.get_branch_protection_rules(repository), what="read branch protection"
    )
    if any(rule.pattern == snapshots.MAIN for rule in rules):
        return
    call_with_retry(
        client,
        lambda: api.set_branch_protection_rules(
            repository, [*rules, BranchProtectionRule(pattern=snapshots.MAIN)]
        ),
        what="protect main",
    )


def validate_batch(config: DatasetConfig, batch: Batch) -> ValidatedBatch:
    """Refuse a batch that breaks the dataset's rules beyond the quarantine threshold;
    otherwise say which rows the feature job will set aside (it lands them all raw)."""
    source = config.sources[batch.source]
    event_time = config.event_time if config.event_time in source.columns else None
    return validate_raw(
        batch.frame.assign(**{PARTITION_COLUMN: batch.day}),
        name=batch.source,
        source=source,
        event_time=event_time,
        max_quarantine_share=config.validation.max_quarantine_share,
        batch=str(batch.day),
        timezone=config.timezone,
    )


def ingest(
    client: lakefs.Client,
    config: DatasetConfig,
    repository: str,
    branch: str,
    batches: list[Batch],
    *,
    message: str,
    metadata: dict[str, str],
    merge: bool = True,
    progress: Callable[[Batch], None] | None = None,
) -> str | None:
    """Validate, upload and commit ``batches`` on ``branch``, then merge into main and
    delete the branch; with ``merge=False`` the commit stays on ``branch`` for review
    (``nightjar data diff``) and a later ``nightjar data merge``.

    Every batch is validated before anything is written: one breaking the rules refuses
    the whole set, and the error names each failing batch. Rows the rules will set aside
    at feature time are reported then, by rule. ``progress`` hears each uploaded batch.

    Returns the merge commit id (None when main already had exactly this data), or with
    ``merge=False`` the branch's commit id.
    """
    validate_branch(branch)
    failures = []
    for batch in batches:
        try:
            validated = validate_batch(config, batch)
        except DataValidationError as failure:
            failures.append(failure)
            continue
        if not validated.quarantined.empty:
            log.warning(
                "%s %s: %d of %d rows break the dataset's rules and will be set aside: %s",
                batch.source,
                batch.day,
                len(validated.quarantined),
                len(batch.frame),
                validated.rows_per_rule(),
            )
    if len(batches) == 1 and failures:
        raise failures[0]
    if failures:
        raise DataValidationError(
            f"{len(failures)} of {len(batches)} batches break the rules; nothing was written:\n"
            + "\n".join(str(failure) for failure in failures)
        )
    repo = lakefs.Repository(repository, client=client)
    call_with_retry(
        client,
        lambda: repo.branch(branch).create(snapshots.MAIN, exist_ok=True),
        what=f"create branch {branch}",
    )
    for batch in batches:
        path = config.sources[batch.source].path
        raw_tables.write_partition(client, repository, branch, path, batch.day, batch.frame)
        if progress is not None:
            progress(batch)
    lineage = {
        **snapshots.lineage_metadata(
            dag_id=metadata.get("nightjar.dag_id", "-"),
            run_id=metadata.get(COMMIT_RUN_ID, "-"),
            logical_date=min(b.day for b in batches).isoformat(),
            produced_by=metadata.get("nightjar.produced_by", "nightjar ingest"),
        ),
        **metadata,
    }
    committed = snapshots.commit(client, repository, branch, message, lineage)
    if not merge:
        log.info("ingested %d batch(es) on %s as %s", len(batches), branch, committed[:12])
        return committed
    merged = snapshots.merge_into_main(client, repository, branch, lineage)
    snapshots.delete_branch(client, repository, branch)
    log.info(
        "ingested %d batch(es) via %s: %s",
        len(batches),
        branch,
        f"merged as {merged[:12]}" if merged else "main already had this data",
    )
    return merged


def init_repositories(settings: Settings) -> list[str]:
    """Create the data repository and protect its main (and, when Delta tables live in
    lakeFS, create their repository: not protected, delta-rs merges its own commits into
    it). Idempotent; returns the repositories' names."""
    client = make_client(settings)
    namespace = settings.lakefs_storage_namespace or f"local://{settings.lakefs_repository}"
    snapshots.ensure_repository(client, settings.lakefs_repository, namespace)
    protect_main(client, settings.lakefs_repository)
    created = [settings.lakefs_repository]
    if settings.warehouse.startswith("lakefs://"):
        repository = settings.warehouse.removeprefix("lakefs://").split("/", 1)[0]
        namespace = (
            f"{settings.lakefs_storage_namespace.rstrip('/')}-warehouse"
            if settings.lakefs_storage_namespace
            else f"local://{repository}"
        )
        snapshots.ensure_repository(client, repository, namespace)
        created.append(repository)
    return created
