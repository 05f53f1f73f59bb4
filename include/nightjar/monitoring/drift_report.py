"""The human-readable drift report: Nightjar's decision table, then Evidently's view.

Evidently inlines its 3.5 MB JavaScript bundle and its icon font into every HTML file it
saves; a nightly report was 4.3 MB, almost all of it that bundle. Nightjar writes the
bundle once per reports folder (``js/``, as Evidently's own folder mode does) and each
night's HTML refers to it, so a report is the size of its data. Reports written more than
``drift.report_retention_days`` ago (their age on disk), or past the newest
``drift.report_retention_count``, are deleted; the measurements stay in
``drift_metrics_*`` and each night's Evidently JSON stays in MLflow.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.settings import Settings
from nightjar.core.templates import render
from nightjar.io import tracking
from nightjar.scoring.scorer import ModelRef

log = logging.getLogger(__name__)
LIB_DIR = "js"
_REPORT_DATE = re.compile(r"^drift-[a-z0-9_]+-(\d{4}-\d{2}-\d{2})\.(html|json)$")


# Past this magnitude, the squares in Evidently's histogram statistics (variance, skew)
# overflow to infinity and its bin count becomes NaN.
DRAWABLE_MAGNITUDE = 1e150


def comparable_columns(config: DatasetConfig, *samples: pd.DataFrame) -> tuple[list, list]:
    """Monitored features Evidently can render, and those it cannot: a column with no
    value, or a single value, in either sample (Evidently raises on an empty column, and a
    constant one has no distribution to draw), or a numeric one with values so large that
    Evidently's histogram overflows. Nightjar's PSI measures them all."""
    shown, left_out = [], []
    for name in config.monitored_features:
        degenerate = any(sample[name].dropna().nunique() <= 1 for sample in samples)
        if name not in config.categorical and not degenerate:
            degenerate = any(
                pd.to_numeric(sample[name], errors="coerce").abs().max() > DRAWABLE_MAGNITUDE
                for sample in samples
            )
        (left_out if degenerate else shown).append(name)
    return shown, left_out


def evidently_snapshot(config: DatasetConfig, current: pd.DataFrame, reference: pd.DataFrame):
    """Evidently's DataDriftPreset on the samples, over the columns it can draw (infinite
    values, which PSI counts in its outer bins, are blanked for the drawing); and the
    columns left out. No snapshot when no column can be drawn."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numeric = [c for c in config.monitored_features if c not in config.categorical]
    current, reference = (
        sample.assign(**{c: sample[c].replace([np.inf, -np.inf], np.nan) for c in numeric})
        for sample in (current, reference)
    )
    shown, left_out = comparable_columns(config, current, reference)
    if not shown:
        return None, left_out
    definition = DataDefinition(
        numerical_columns=[c for c in shown if c not in config.categorical],
        categorical_columns=[c for c in shown if c in config.categorical],
    )
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current[shown], data_definition=definition),
        Dataset.from_pandas(reference[shown], data_definition=definition),
    )
    return snapshot, left_out


def _lib_files(reports_dir: Path) -> tuple[str, str]:
    """Evidently's bundle and font, copied once into ``reports_dir/js``; their paths
    relative to a report."""
    import evidently
    from evidently.legacy.utils.dashboard import STATIC_PATH

    folder = reports_dir / LIB_DIR
    folder.mkdir(parents=True, exist_ok=True)
    lib, font = f"evidently-{evidently.__version__}.js", "material-ui-icons.woff2"
    for source, target in (("index.js", lib), (font, font)):
        if not (folder / target).is_file():
            temporary = folder / f".{target}.partial"
            shutil.copyfile(Path(STATIC_PATH) / source, temporary)
            temporary.replace(folder / target)  # atomic: a reader never sees half a bundle
    return f"{LIB_DIR}/{lib}", f"{LIB_DIR}/{font}"


def _evidently_html(snapshot, lib: str, font: str) -> str:
    """Evidently's standalone HTML, with the bundle and font referenced, not inlined.

    Evidently 0.7's ``Snapshot.save_html`` has no folder mode; this is its
    ``render_widgets`` with the ``TemplateParams`` its legacy folder mode uses."""
    import uuid

    from evidently.legacy.model.dashboard import DashboardInfo
    from evidently.legacy.model.widget import AdditionalGraphInfo, BaseWidgetInfo
    from evidently.legacy.renderers.html_widgets import group_widget
    from evidently.legacy.utils.dashboard import TemplateParams, file_html_template

    widgets = [group_widget(title="", widgets=snapshot._widgets), *snapshot._tests_widgets]
    graphs = {}
    for widget in widgets:
        for graph in widget.get_additional_graphs():
            info = graph.params if isinstance(graph, AdditionalGraphInfo) else graph
            graphs[str(graph.id)] = info.dict() if isinstance(info, BaseWidgetInfo) else info
    params = TemplateParams(
        dashboard_id="metric_" + uuid.uuid4().hex,
        dashboard_info=DashboardInfo(name="Report", widgets=widgets),
        additional_graphs=graphs,
        embed_lib=False,
        embed_font=False,
        font_file=font,
        include_js_files=[lib],
    )
    return file_html_template(params)


_HEADER_COLUMNS = [
    "feature", "status", "value", "threshold", "drifted", "nights", "null_nights", "reference"
]  # fmt: skip


def _header(config: DatasetConfig, score_date: dt.date, headline: str, metrics, left_out) -> str:
    """The decision table the report opens with (``templates/drift_header.html.j2``)."""
    shown = metrics[_HEADER_COLUMNS].astype(object)
    shown["value"] = [f"{v:.4f}" if v == v else "-" for v in metrics["value"]]  # NaN: no PSI
    return render(
        "nightjar.monitoring",
        "drift_header.html.j2",
        dataset=config.name,
        score_date=score_date,
        headline=headline,
        columns=_HEADER_COLUMNS,
        rows=shown.to_dict("records"),
        left_out=left_out,
    )


def render_report(
    settings: Settings,
    config: DatasetConfig,
    model: ModelRef,
    score_date: dt.date,
    reports_dir: Path,
    *,
    current_sample: pd.DataFrame,
    reference_sample: pd.DataFrame,
    metrics: pd.DataFrame,
    headline: str,
) -> str:
    """Write the night's HTML and Evidently JSON, log the JSON to MLflow, and delete
    reports past retention. A re-run for the same date and model version overwrites its
    report and logs into the same MLflow run, so retries leave one record per date."""
    snapshot, left_out = evidently_snapshot(config, current_sample, reference_sample)
    if left_out:
        log.warning(
            "%s: %s left out of the Evidently report (no value, or one)", score_date, left_out
        )
    reports_dir.mkdir(parents=True, exist_ok=True)
    page = reports_dir / f"drift-{config.name}-{score_date.isoformat()}.html"
    header = _header(config, score_date, headline, metrics, left_out)
    body, json_text = "<p>No column can be drawn.</p>", "{}"
    if snapshot is not None:
        lib, font = _lib_files(reports_dir)
        body, json_text = _evidently_html(snapshot, lib, font), snapshot.json()
    document = body.replace("<body>", f"<body>{header}", 1) if "<body>" in body else header + body
    _write_atomically(page, document)
    _write_atomically(page.with_suffix(".json"), json_text)
    _log_to_mlflow(settings, config, model, score_date, page.with_suffix(".json"))
    prune_reports(
        reports_dir,
        keep_days=config.drift.report_retention_days,
        keep_count=config.drift.report_retention_count,
        now=dt.datetime.now(dt.UTC),
    )
    return str(page)


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def _log_to_mlflow(
    settings: Settings, config: DatasetConfig, model: ModelRef, score_date: dt.date, json_path
) -> None:
    experiment = tracking.ensure_experiment(settings, f"{config.name}-monitoring")
    tags = {
        "nightjar.model_name": model.name,
        "nightjar.model_version": model.version,
        "nightjar.score_date": score_date.isoformat(),
    }
    mlflow_client = tracking.client(settings)
    existing = mlflow_client.search_runs(
        [experiment],
        filter_string=" and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items()),
        max_results=1,
    )
    if existing:  # a re-run of this date updates its record in place
        run_id = existing[0].info.run_id
    else:
        run_id = mlflow_client.create_run(
            experiment, tags=tags, run_name=f"drift-{score_date}"
        ).info.run_id
    mlflow_client.log_artifact(run_id, str(json_path), "drift")
    mlflow_client.set_terminated(run_id)


def prune_reports(
    reports_dir: Path, *, keep_days: int, keep_count: int | None, now: dt.datetime
) -> list[Path]:
    """Delete the reports (HTML and JSON) written more than ``keep_days`` before ``now``,
    and past the newest ``keep_count``; return what was deleted. A report's age is its
    age on disk, never the age of the night it describes: monitoring a past range keeps
    its reports."""
    pages = sorted(
        (path for path in reports_dir.glob("drift-*.html") if _REPORT_DATE.match(path.name)),
        key=lambda path: path.stat().st_mtime,
        reverse=True,
    )
    cutoff = (now - dt.timedelta(days=keep_days)).timestamp()
    deleted = []
    for rank, page in enumerate(pages):
        if page.stat().st_mtime < cutoff or (keep_count is not None and rank >= keep_count):
            for path in (page, page.with_suffix(".json")):
                path.unlink(missing_ok=True)
                deleted.append(path)
    if deleted:
        log.info(
            "deleted %d drift report(s) written over %d days ago%s",
            len(deleted) // 2,
            keep_days,
            f" or past the newest {keep_count}" if keep_count is not None else "",
        )
    return deleted
