"""A model card per registered version: Markdown and offline HTML, stored with the model.

The card's text is ``templates/model_card.md.j2``; this module gathers what it shows.
"""

from __future__ import annotations

import json

from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.settings import Settings
from nightjar.core.templates import render
from nightjar.core.vocabulary import GATE_DECISION, TAG_MODEL_SHA256
from nightjar.io import tracking


def _metric_table(rows: dict[str, float]) -> str:
    lines = ["| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.4f} |" for k, v in sorted(rows.items())]
    return "\n".join(lines)


def render_model_card(settings: Settings, config: DatasetConfig, name: str, version: str) -> str:
    """The model card of ``name`` v``version`` as Markdown, from its MLflow run, gate decision
    and alias history."""
    from mlflow.exceptions import MlflowException

    from nightjar.promotion import registry
    from nightjar.promotion.compilation import recorded_verdict

    mlflow_client = tracking.client(settings)
    model_version = mlflow_client.get_model_version(name, version)
    run = mlflow_client.get_run(model_version.run_id)
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    try:
        gate = json.loads(tracking.read_text(settings, run.info.run_id, GATE_DECISION))
    except (MlflowException, OSError):  # a card without a gate record says so
        gate = None
    history = registry.history(settings, name)
    return render(
        "nightjar.promotion",
        "model_card.md.j2",
        name=name,
        version=version,
        config=config,
        tags=tags,
        params=params,
        model_sha256=tags.get(TAG_MODEL_SHA256),
        run_id=run.info.run_id,
        metric_table=_metric_table,
        holdout_metrics={
            k.removeprefix("holdout_"): v for k, v in metrics.items() if k.startswith("holdout_")
        },
        slice_metrics={
            k.removeprefix("slice."): v
            for k, v in metrics.items()
            if k.startswith("slice.") and k.endswith(".roc_auc")
        },
        gate=gate,
        compiled=recorded_verdict(settings, name, version),
        approvals=list(history[history["to_version"] == str(version)].itertuples()),
    )


def write_model_card(settings: Settings, config: DatasetConfig, name: str, version: str) -> str:
    """Render the card and log it (Markdown + HTML) to the version's run under model_card/."""
    markdown = render_model_card(settings, config, name, version)
    page = render(
        "nightjar.promotion", "model_card.html.j2", name=name, version=version, markdown=markdown
    )
    mlflow_client = tracking.client(settings)
    run_id = mlflow_client.get_model_version(name, version).run_id
    mlflow_client.log_text(run_id, markdown, f"model_card/v{version}.md")
    mlflow_client.log_text(run_id, page, f"model_card/v{version}.html")
    return markdown
