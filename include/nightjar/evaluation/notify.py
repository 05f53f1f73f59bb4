"""Telling people what a run decided when nobody is watching the UI.

A challenger that fails the gate ends its retrain run as a success with skipped tasks,
which no failure alert catches. So the decision is posted, as JSON with a Slack-compatible
``text`` field, to ``NIGHTJAR_GATE_FAILED_WEBHOOK`` when one is set. Posting is best
effort: an unreachable endpoint is logged in the task log and the run goes on, since the
decision itself is already recorded (MLflow tag, approval log, Nightjar page).
"""

from __future__ import annotations

import logging

import httpx

from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.run_info import RunInfo
from nightjar.core.settings import Settings
from nightjar.evaluation.gate import GateDecision

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 10.0


def gate_failed(
    settings: Settings, config: DatasetConfig, decision: GateDecision, run: RunInfo, run_id: str
) -> bool:
    """Post a failed gate decision to the configured webhook; True if it was delivered."""
    if settings.gate_failed_webhook is None:
        return False
    url = settings.gate_failed_webhook.get_secret_value()
    if not url.startswith(("http://", "https://")):
        log.warning("NIGHTJAR_GATE_FAILED_WEBHOOK is not an http(s) URL; nothing was posted")
        return False
    text = (
        f"Nightjar: a {config.model.name} challenger failed the gate "
        f"({run.dag_id} {run.run_id}, MLflow run {run_id})\n{decision.summary()}"
    )
    payload = {
        "text": text,
        "model_name": config.model.name,
        "mlflow_run_id": run_id,
        "dag_id": run.dag_id,
        "dag_run_id": run.run_id,
        "decision": decision.as_dict(),
    }
    try:
        response = httpx.post(url, json=payload, timeout=TIMEOUT_SECONDS)
        response.raise_for_status()
    except httpx.HTTPStatusError as error:
        log.warning("the gate-failed webhook answered %d", error.response.status_code)
        return False
    except httpx.HTTPError as error:
        # The URL holds a token: name the failure, not the URL.
        log.warning("the gate-failed webhook was not delivered: %s", type(error).__name__)
        return False
    log.info("posted the failed gate decision to the gate-failed webhook")
    return True
