"""Every Airflow Asset Nightjar produces or consumes, declared in one place.

Imported by DAG files at parse time, so it imports nothing but ``airflow.sdk``.
"""

from airflow.sdk import Asset


def _asset(name: str, uri: str, what: str) -> Asset:
    return Asset(name=f"nightjar_{name}", uri=uri, group="nightjar", extra={"what": what})


RAW_DATA = _asset(
    "raw_data",
    "lakefs://nightjar/main/raw",
    "raw tables on lakeFS main, updated by validated merges",
)
SCORES = _asset(
    "scores",
    "nightjar://warehouse/scores",
    "a date's partition of the scores Delta table was (re)written",
)
RETRAIN_REQUEST = _asset(
    "retrain_request",
    "nightjar://monitoring/retrain-request",
    "drift or performance breached past the loop guard: retrain",
)
CHAMPION = _asset("champion", "nightjar://registry/champion", "the champion alias moved")


# --- what each event carries, built from the typed result of the task that emits it ---
# A consumer run reads ``date`` (and ``dates``) from its triggering events: RunInfo.


def scores_event(result: dict) -> dict:
    """SCORES: every date the scoring run wrote; monitoring measures each."""
    from nightjar.pipeline.contracts import ScoredNights

    dates = [night.score_date.isoformat() for night in ScoredNights.model_validate(result).dates]
    return {"date": dates[-1], "dates": dates}


def retrain_request_event(result: dict) -> dict:
    """RETRAIN_REQUEST: nightjar_retrain trains as of the date that fired, not the day it runs."""
    from nightjar.pipeline.contracts import RetrainRequest

    return {"date": RetrainRequest.model_validate(result).as_of.isoformat()}


def raw_data_event(result: dict) -> dict:
    """RAW_DATA: scoring runs for the newest changed date; the rest are for the record."""
    from nightjar.pipeline.contracts import RawDataChanges

    changes = RawDataChanges.model_validate(result)
    return {
        "date": changes.date.isoformat(),
        "changed_dates": [day.isoformat() for day in changes.dates],
        "commit_id": changes.commit_id,
    }
