"""Nightjar inside the Airflow 3 UI: a page in the navigation, the task extra links, the
priority weight strategy that puts nightly runs before backfills, and the timetable that
keeps backfills possible with time schedules off.

The page is a FastAPI app mounted on the API server under /nightjar, behind Airflow's own
authentication (the same token the UI uses): an overview of every dataset, and each
dataset's page under /nightjar/datasets/<name>/. It reads the Delta tables and the registry
through the same package functions as the CLI; user input is validated before use.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import ClassVar

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Path, Query
from fastapi.responses import FileResponse, HTMLResponse

from nightjar.airflow.links import ALL_LINKS
from nightjar.airflow.priority import NightlyBeforeBackfill
from nightjar.airflow.timetables import CronIntervalsWithoutClock

try:  # the API server's dependency that resolves the signed-in user from its token
    from airflow.api_fastapi.core_api.security import get_user
except ImportError:  # pragma: no cover - only the API server serves this app
    get_user = None

_DATASET = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
_REPORT_NAME = re.compile(r"^drift-[a-z0-9_]+-\d{4}-\d{2}-\d{2}\.html$")

app = FastAPI(title="Nightjar", dependencies=[Depends(get_user)] if get_user else [])


def _served():
    from nightjar.core.datasets import load_datasets
    from nightjar.core.settings import load_settings

    settings = load_settings()
    return settings, load_datasets(settings)


def _context(dataset: str):
    """The settings and config of ``dataset`` (404 for a name that is not served)."""
    from nightjar.core.datasets import settings_for
    from nightjar.core.errors import ConfigError

    settings, datasets = _served()
    try:
        config = datasets.one(dataset)
    except ConfigError as error:
        raise HTTPException(status_code=404, detail=str(error)) from None
    return settings_for(settings, config), config


def _failed_scoring(session, dataset: str) -> dict[dt.date, str]:
    """Each date whose newest scoring run of ``dataset`` failed, with that run's page: the
    grid marks it failed rather than missing. The date is the one the run was about
    (``target_date_of``, the rule its tasks use). An asset-triggered run without a
    ``date`` is left out: its dates are in the Asset events that triggered it, which this
    does not read."""
    from airflow.models.dagrun import DagRun
    from sqlalchemy import select

    from nightjar.core.run_info import target_date_of
    from nightjar.core.vocabulary import dag_id

    score_dag = dag_id("score", dataset)
    runs = session.execute(  # only the columns the date rule needs, not whole runs
        select(
            DagRun.run_id, DagRun.state, DagRun.run_type, DagRun.conf,
            DagRun.data_interval_start, DagRun.data_interval_end, DagRun.logical_date,
            DagRun.run_after,
        )
        .where(DagRun.dag_id == score_dag)
        .order_by(DagRun.run_after.desc())
        .limit(2000)
    )  # fmt: skip
    newest: dict = {}
    for run in runs:
        if run.run_type == "asset_triggered" and "date" not in (run.conf or {}):
            continue
        day = target_date_of(
            run.conf, run.data_interval_start, run.data_interval_end, run.logical_date,
            run.run_after,
        )  # fmt: skip
        newest.setdefault(day, run)
    return {
        day: f"/dags/{score_dag}/runs/{run.run_id}"
        for day, run in newest.items()
        if run.state == "failed"
    }


@app.get("/", response_class=HTMLResponse)
def overview() -> str:
    """Every dataset: champion, last night, gaps, failed runs, last gate, drift."""
    from airflow.utils.session import create_session

    from nightjar.ui.overview import render

    settings, datasets = _served()
    with create_session() as session:  # the API server's metadata DB: read only
        failed = {name: _failed_scoring(session, name) for name in datasets.configs}
    return render(settings, datasets, failed)


@app.get("/datasets/{dataset}/", response_class=HTMLResponse)
def dataset_page(
    dataset: str = Path(max_length=63, pattern=_DATASET),
    entity: str | None = Query(None, max_length=128),
    date: str | None = Query(None, max_length=10),
    page: int = Query(0, ge=0, le=10_000),
) -> str:
    from airflow.utils.session import create_session

    from nightjar.core.errors import InvalidNameError
    from nightjar.core.names import parse_date
    from nightjar.ui.dashboard import render

    try:
        day = parse_date(date) if date else None
    except InvalidNameError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    settings, config = _context(dataset)
    with create_session() as session:  # the API server's metadata DB: read only
        failed = _failed_scoring(session, config.name)
    return render(settings, config, entity=entity, day=day, page=page, failed_runs=failed)


@app.get("/datasets/{dataset}/reports/{name}")
def report(name: str, dataset: str = Path(max_length=63, pattern=_DATASET)) -> FileResponse:
    if not _REPORT_NAME.match(name):
        raise HTTPException(status_code=400, detail="invalid report name")

    settings, config = _context(dataset)
    path = settings.reports_dir(config.name) / name
    if not path.is_file():
        raise HTTPException(status_code=404, detail="no such report")
    return FileResponse(path, media_type="text/html")


_REPORT_LIB_NAME = re.compile(r"^(evidently-[0-9a-z.]+\.js|material-ui-icons\.woff2)$")


@app.get("/datasets/{dataset}/reports/js/{name}")
def report_lib(name: str, dataset: str = Path(max_length=63, pattern=_DATASET)) -> FileResponse:
    """Evidently's bundle and font, which every report refers to instead of inlining."""
    if not _REPORT_LIB_NAME.match(name):
        raise HTTPException(status_code=400, detail="invalid report file name")
    from nightjar.monitoring.drift_report import LIB_DIR

    settings, config = _context(dataset)
    path = settings.reports_dir(config.name) / LIB_DIR / name
    if not path.is_file():
        raise HTTPException(status_code=404, detail="no such file")
    media = "text/javascript" if name.endswith(".js") else "font/woff2"
    return FileResponse(path, media_type=media, headers={"Cache-Control": "max-age=86400"})


@app.get("/datasets/{dataset}/model-card/{version}", response_class=HTMLResponse)
def model_card(version: int, dataset: str = Path(max_length=63, pattern=_DATASET)) -> str:
    from mlflow.exceptions import MlflowException

    from nightjar.io import tracking

    settings, config = _context(dataset)
    try:
        run_id = tracking.client(settings).get_model_version(config.model.name, str(version)).run_id
        return tracking.read_text(settings, run_id, f"model_card/v{version}.html")
    except (MlflowException, OSError):
        raise HTTPException(status_code=404, detail="no model card for that version") from None


class NightjarPlugin(AirflowPlugin):
    name = "nightjar"
    fastapi_apps: ClassVar[list] = [{"app": app, "url_prefix": "/nightjar", "name": "Nightjar"}]
    external_views: ClassVar[list] = [
        {"name": "Nightjar", "href": "nightjar/", "destination": "nav", "url_route": "nightjar"}
    ]
    operator_extra_links: ClassVar[list] = list(ALL_LINKS)
    priority_weight_strategies: ClassVar[list] = [NightlyBeforeBackfill]
    timetables: ClassVar[list] = [CronIntervalsWithoutClock]
