"""Every Airflow Asset Nightjar produces or consumes, declared in one place: each dataset
has its own four, named after it (``nightjar_scores__credit_default``), so one dataset's
scores never schedule another's monitoring.

Imported by DAG files at parse time, so it imports nothing but ``airflow.sdk``.
"""

from airflow.sdk import Asset

from nightjar.core.vocabulary import DATASET_SEPARATOR


def _asset(kind: str, dataset: str, uri: str, what: str) -> Asset:
    return Asset(
        name=f"nightjar_{kind}{DATASET_SEPARATOR}{dataset}",
        uri=uri,
        group="nightjar",
        extra={"what": what, "dataset": dataset},
    )


def raw_data(dataset: str) -> Asset:
    """The dataset's raw tables on lakeFS main, updated by validated merges."""
    return _asset(
        "raw_data",
        dataset,
        f"nightjar://lakefs/{dataset}/main/raw",
        "raw tables on lakeFS main, updated by validated merges",
    )


def scores(dataset: str) -> Asset:
    """A date's partition of the dataset's scores table was (re)written."""
    return _asset(
        "scores",
        dataset,
        f"nightjar://warehouse/{dataset}/scores",
        "a date's partition of the scores Delta table was (re)written",
    )


def retrain_request(dataset: str) -> Asset:
    """A retrain of the dataset as of the partition's date."""
    return _asset(
        "retrain_request",
        dataset,
        f"nightjar://monitoring/{dataset}/retrain-request",
        "a retrain as of the partition's date: the loop guard's request, or the weekly one",
    )


def champion(dataset: str) -> Asset:
    """The dataset's champion alias moved."""
    return _asset(
        "champion", dataset, f"nightjar://registry/{dataset}/champion", "the champion alias moved"
    )


# --- what each event carries, built from the typed result of the task that emits it ---
# A consumer run reads its date from its partition key, else ``date`` (and ``dates``) from
# its triggering events: RunInfo.


def scored_partitions(result: dict) -> list[str]:
    """Scores: the partition (``YYYY-MM-DD``) of each date the scoring run wrote. The
    monitoring DAG is scheduled on SCORES partitions, so Airflow starts one monitoring run
    per date: a backfill's dates are monitored concurrently, each exactly as asked."""
    from nightjar.pipeline.contracts import ScoredNights

    return [night.score_date.isoformat() for night in ScoredNights.model_validate(result).dates]


def requested_partitions(result: dict) -> list[str]:
    """The retrain request: the partition (``YYYY-MM-DD``) of each night the loop guard made a
    request for. ``nightjar_retrain`` is scheduled on its partitions: one run per request,
    training as of the request's night."""
    from nightjar.pipeline.contracts import RetrainRequest

    request = RetrainRequest.model_validate(result)
    return [day.isoformat() for day in request.dates] or [request.as_of.isoformat()]


def retrain_request_event(result: dict) -> dict:
    """The retrain request: nightjar_retrain trains as of the newest night that fired, not the
    day it runs, and records that it took each request the event names."""
    from nightjar.pipeline.contracts import RetrainRequest

    request = RetrainRequest.model_validate(result)
    dates = [day.isoformat() for day in request.dates] or [request.as_of.isoformat()]
    return {"date": request.as_of.isoformat(), "dates": dates}


def raw_data_event(result: dict) -> dict:
    """Raw data: scoring runs for the newest changed date; the rest are for the record."""
    from nightjar.pipeline.contracts import RawDataChanges

    changes = RawDataChanges.model_validate(result)
    return {
        "date": changes.date.isoformat(),
        "changed_dates": [day.isoformat() for day in changes.dates],
        "commit_id": changes.commit_id,
    }
