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
