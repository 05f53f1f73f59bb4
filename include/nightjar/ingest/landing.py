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
    duplicates_note,
    normalise_types,
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


PROTECTION_WAIT_SECONDS = 30.0


def protect_main(client: lakefs.Client, repository: str) -> None:
    """Refuse direct writes to main: data arrives only through validated merges. Returns
    once lakeFS enforces it (``wait_until_protected``)."""
    api = client.sdk_client.repositories_api
    rules = call_with_retry(
        client, lambda: api.get_branch_protection_rules(repository), what="read branch protection"
    )
    if not any(rule.pattern == snapshots.MAIN for rule in rules):
        call_with_retry(
            client,
            lambda: api.set_branch_protection_rules(
                repository, [*rules, BranchProtectionRule(pattern=snapshots.MAIN)]
            ),
            what="protect main",
        )
    wait_until_protected(client, repository)


def wait_until_protected(
    client: lakefs.Client, repository: str, *, timeout: float = PROTECTION_WAIT_SECONDS
) -> None:
    """Wait until lakeFS refuses writes to main. A real lakeFS caches its settings and
    enforces a new rule a few seconds after it is set; the probe is a reset of main's
    staging area, which a protected main refuses and an unprotected one (whose staging
    must be empty: nothing writes to main) answers with nothing to drop."""
    import time

    import lakefs_sdk
    from lakefs.exceptions import ForbiddenException

    main = lakefs.Repository(repository, client=client).branch(snapshots.MAIN)
    deadline = time.monotonic() + timeout
    while True:
        try:  # the SDK's reset passes the low-level client's exception through
            call_with_retry(client, main.reset_changes, what="probe main's protection")
        except (ForbiddenException, lakefs_sdk.exceptions.ForbiddenException):
            return
        if time.monotonic() > deadline:
            raise DataValidationError(
                f"lakeFS has main's protection rule for {repository!r} but did not enforce it "
                f"within {timeout:.0f} s; check its branch protection settings"
            )
        log.info("main's protection is set but not yet enforced; waiting")
        time.sleep(1)


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
            if note := duplicates_note(config.sources[batch.source], validated.quarantined):
                log.warning("%s %s: %s", batch.source, batch.day, note)
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
        source = config.sources[batch.source]
        # Every row lands, in one stored type per column whatever the file's zone or units.
        frame = normalise_types(batch.frame, source, config.timezone)
        raw_tables.write_partition(client, repository, branch, source.path, batch.day, frame)
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
