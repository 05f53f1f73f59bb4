"""A model card per registered version: Markdown and offline HTML, stored with the model."""

from __future__ import annotations

import html
import json

from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.settings import Settings
from nightjar.core.vocabulary import GATE_DECISION, TAG_MODEL_SHA256
from nightjar.io import tracking

_TEMPLATE = """# Model card: {name} v{version}

## Intended use
{description}

Owner: {owner}. Decision threshold: {threshold}. Scored nightly by Nightjar; every scored row
carries this model's name, version and MLflow run id.

## Data and lineage
| | |
|---|---|
| lakeFS repository | `{lakefs_repository}` |
| lakeFS commit | `{lakefs_commit}` |
| feature spec | `{feature_spec}` |
| code commit | `{git_commit}` |
| training window | {time_range} (as of {as_of}) |
| rows (train / validation / holdout) | {rows_train} / {rows_validation} / {rows_holdout} |
| seed | {seed} |
| runtime image | {runtime_image} |
| model file sha256 | `{model_sha256}` |
| MLflow run | `{run_id}` |

## Metrics on the holdout
{metrics}

## Metrics by slice
{slices}

## Gate
{gate}

## Caveats
- Labels arrive {label_delay} days after the event; the newest {label_delay} days are never in
  training, and realised performance is known only after that delay.
- Categories unseen in training are scored as missing values.
- The model learned from {time_range}; populations outside that window may behave differently.

## Approval record
{approvals}
"""


def _table(rows: dict[str, float]) -> str:
    lines = ["| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.4f} |" for k, v in sorted(rows.items())]
    return "\n".join(lines)


def render_model_card(settings: Settings, config: DatasetConfig, name: str, version: str) -> str:
    from mlflow.exceptions import MlflowException

    from nightjar.promotion import registry

    mlflow_client = tracking.client(settings)
    model_version = mlflow_client.get_model_version(name, version)
    run = mlflow_client.get_run(model_version.run_id)
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    try:
        gate = json.loads(tracking.read_text(settings, run.info.run_id, GATE_DECISION))
        gate_text = "\n".join(
            f"- {'PASS' if c['passed'] else 'FAIL'} `{c['name']}`: {c['value']} "
            f"(threshold {c['threshold']}) {c.get('detail', '')}"
            for c in gate["checks"]
        ) + (f"\n\n{gate['note']}" if gate.get("note") else "")
    except (MlflowException, OSError):  # a card without a gate record says so
        gate_text = "No gate decision recorded."
    history = registry.history(settings, name)
    history = history[history["to_version"] == str(version)]
    approvals = (
        "\n".join(
            f"- {r.recorded_at:%Y-%m-%d %H:%M} UTC: `{r.alias}` {r.from_version} -> {r.to_version} "
            f"by {r.actor}: {r.reason}"
            for r in history.itertuples()
        )
        or "- not yet promoted"
    )
    slice_rows = {
        k.removeprefix("slice."): v
        for k, v in metrics.items()
        if k.startswith("slice.") and k.endswith(".roc_auc")
    }
    return _TEMPLATE.format(
        name=name,
        version=version,
        description=config.description,
        owner=config.owner,
        threshold=config.model.threshold,
        lakefs_repository=tags.get("nightjar.lakefs_repository"),
        lakefs_commit=tags.get("nightjar.lakefs_commit"),
        feature_spec=tags.get("nightjar.feature_spec"),
        git_commit=tags.get("nightjar.git_commit"),
        time_range=params.get("time_range"),
        as_of=params.get("as_of"),
        rows_train=params.get("rows_train"),
        rows_validation=params.get("rows_validation"),
        rows_holdout=params.get("rows_holdout"),
        seed=tags.get("nightjar.seed"),
        runtime_image=tags.get("nightjar.runtime_image"),
        model_sha256=tags.get(TAG_MODEL_SHA256),
        run_id=run.info.run_id,
        metrics=_table(
            {k.removeprefix("holdout_"): v for k, v in metrics.items() if k.startswith("holdout_")}
        ),
        slices=_table(slice_rows) if slice_rows else "No slices configured.",
        gate=gate_text,
        label_delay=config.label.delay_days,
        approvals=approvals,
    )


def write_model_card(settings: Settings, config: DatasetConfig, name: str, version: str) -> str:
    """Render the card and log it (Markdown + HTML) to the version's run under model_card/."""
    markdown = render_model_card(settings, config, name, version)
    page = (
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(name)} v{version}</title>"
        f"<pre style='font-family:system-ui;white-space:pre-wrap'>{html.escape(markdown)}</pre>"
    )
    mlflow_client = tracking.client(settings)
    run_id = mlflow_client.get_model_version(name, version).run_id
    mlflow_client.log_text(run_id, markdown, f"model_card/v{version}.md")
    mlflow_client.log_text(run_id, page, f"model_card/v{version}.html")
    return markdown
