"""Nightly runs before backfills: the priority weight strategy of every Nightjar task.

Airflow queues the task instances with the highest priority weight first, in each pool
and for the executor's open slots. A dataset's nightly, asset-triggered and manual runs'
tasks take the config's ``airflow.priority_weight``; a backfill's take 1. So a 365-date
backfill of one dataset waits whenever tonight's run of it, or of any other dataset,
has a task ready; and in its own pool (``airflow.pool_slots``) it never holds another
dataset's slots. The plugin registers the strategy (``priority_weight_strategies``), so
the scheduler can load it from the serialized DAG.
"""

from __future__ import annotations

from typing import Any

from airflow.task.priority_strategy import PriorityWeightStrategy

BACKFILL_WEIGHT = 1
BACKFILL_RUN_PREFIX = "backfill__"


class NightlyBeforeBackfill(PriorityWeightStrategy):
    """The task's own priority weight, except in a backfill's run: 1."""

    def get_weight(self, ti: Any) -> int:
        if str(getattr(ti, "run_id", "") or "").startswith(BACKFILL_RUN_PREFIX):
            return BACKFILL_WEIGHT
        return int(ti.task.priority_weight)
