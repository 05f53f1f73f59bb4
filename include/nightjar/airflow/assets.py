"""Every Airflow Asset Nightjar produces or consumes, declared in one place.

Imported by DAG files at parse time, so it imports nothing but ``airflow.sdk``.
"""

from airflow.sdk import Asset

RAW_DATA = Asset(
    name="nightjar_raw_data",
    uri="lakefs://nightjar/main/raw",
    group="nightjar",
    extra={"what": "raw tables on lakeFS main, updated by validated merges"},
)
SCORES = Asset(
    name="nightjar_scores",
    uri="nightjar://warehouse/scores",
    group="nightjar",
    extra={"what": "a date's partition of the scores Delta table was (re)written"},
)
RETRAIN_REQUEST = Asset(
    name="nightjar_retrain_request",
    uri="nightjar://monitoring/retrain-request",
    group="nightjar",
    extra={"what": "drift or performance breached past the loop guard: retrain"},
)
CHAMPION = Asset(
    name="nightjar_champion",
    uri="nightjar://registry/champion",
    group="nightjar",
    extra={"what": "the champion alias moved"},
)
