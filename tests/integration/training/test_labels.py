"""Labels without an availability column: known ``delay_days`` after their batch's date."""

import datetime as dt

from nightjar.embedded import demo_data
from nightjar.ingest.landing import Batch, ingest
from nightjar.io import snapshots
from nightjar.io.lakefs_client import make_client
from nightjar.training.trainer import load_labels

REPO = "nightjar-labels"
EVENT_DAYS = [dt.date(2026, 1, 10), dt.date(2026, 1, 11)]


def test_labels_filed_by_event_date_are_known_delay_days_later(settings, config, embedded_stack):
    labels = config.sources["labels"]
    columns = {k: v for k, v in labels.columns.items() if k != "label_ts"}
    config = config.model_copy(
        update={
            "label": config.label.model_copy(update={"available_at": None}),
            "sources": {**config.sources, "labels": labels.model_copy(update={"columns": columns})},
        }
    )
    spec = demo_data.DemoSpec(rows_per_day=40)
    client = make_client(settings)
    snapshots.ensure_repository(client, REPO, f"local://{REPO}")
    batches = [
        Batch("labels", day, demo_data.labels_for(day, spec).drop(columns="label_ts"))
        for day in EVENT_DAYS
    ]
    ingest(client, config, REPO, "labels-by-event-date", batches, message="labels", metadata={})
    commit = snapshots.resolve_commit(client, REPO, snapshots.MAIN)
    snapshot = snapshots.Snapshot(repository=REPO, branch=snapshots.MAIN, commit_id=commit)

    def known_on(as_of: dt.date) -> int:
        return len(load_labels(settings, config, snapshot, EVENT_DAYS[0], as_of))

    first_known = EVENT_DAYS[0] + dt.timedelta(days=config.label.delay_days)
    assert known_on(first_known - dt.timedelta(days=1)) == 0
    assert known_on(first_known) == 40
    assert known_on(first_known + dt.timedelta(days=1)) == 80
