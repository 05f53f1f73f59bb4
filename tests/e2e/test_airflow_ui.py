"""The Nightjar page and extra links in a real Airflow (its four components, as `nightjar airflow`
runs them), seen by headless Chromium.

Runs after the demo loop (the e2e session fixture): starts the embedded MLflow UI and
Airflow on free ports with the session's home, lets the scheduler run one scoring date,
checks that every extra link on its tasks (and on the demo's drift task) resolves to the
object it names, and renders the Nightjar page in Chromium (Debian's chromium +
chromium-driver), saving a screenshot (to docs/ when NIGHTJAR_UPDATE_SCREENSHOTS is set).
"""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from nightjar.embedded.airflow_api import AirflowAPI
from nightjar.embedded.airflow_stack import AirflowStack, stack_env
from nightjar.embedded.supervisor import standin_credentials, start_mlflow_ui
from tests.ports import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).parents[2]
SCREENSHOT = ROOT / "docs" / "nightjar-page.png"


def _wait_for(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(1)
    os.killpg(proc.pid, 15)
    pytest.fail(f"{url} did not come up:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def mlflow_ui(demo_world, tmp_path_factory):
    """The embedded MLflow UI, started the way `nightjar airflow` starts it."""
    url = f"http://127.0.0.1:{free_port()}"
    settings = demo_world.model_copy(update={"mlflow_ui_url": url})
    log = tmp_path_factory.mktemp("mlflow") / "server.log"
    proc = start_mlflow_ui(settings, log)
    _wait_for(f"{url}/health", proc, log)
    yield url
    os.killpg(proc.pid, 15)
    proc.wait(timeout=60)


@pytest.fixture(scope="module")
def airflow(demo_world, mlflow_ui, tmp_path_factory):
    """Airflow's four components as `nightjar airflow` starts them, on a free port."""
    settings = demo_world.model_copy(update={"airflow_port": free_port()})
    # dag.test() in this process leaves Airflow settings in os.environ: start clean.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW"))}
    env = stack_env(settings, {**inherited, "NIGHTJAR_MLFLOW_UI_URL": mlflow_ui})
    env["NIGHTJAR_AIRFLOW_PORT"] = str(settings.airflow_port)
    stack = AirflowStack(settings, env, log_dir=tmp_path_factory.mktemp("airflow"))
    stack.start()
    try:
        stack.wait_until_healthy()
        api = AirflowAPI.login(stack.base_url, Path(env["AIRFLOW_HOME"]))
        yield stack.base_url, api.token
    finally:
        stack.stop()


def _api(base, token):
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_the_page_needs_airflow_auth(airflow):
    base, _ = airflow
    assert httpx.get(f"{base}/nightjar/", timeout=10).status_code == 401


def _links(api, dag_id: str, run_id: str, task_id: str) -> dict[str, str]:
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
    return api.get(f"{path}/links").json()["extra_links"]


def _return_value(api, dag_id: str, run_id: str, task_id: str) -> dict:
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
    return api.get(f"{path}/xcomEntries/return_value").json()["value"]


def _unpause(api, dag_id: str) -> None:
    deadline = time.monotonic() + 120
    while api.get(f"/api/v2/dags/{dag_id}").status_code != 200:
        assert time.monotonic() < deadline, f"{dag_id} was never parsed"
        time.sleep(2)
    api.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False}).raise_for_status()


def _wait_until_done(api, dag_id: str, run_id: str) -> str:
    deadline = time.monotonic() + 600
    while (state := api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json()["state"]) not in (
        "success",
        "failed",
    ):
        assert time.monotonic() < deadline, f"{dag_id} {run_id} did not finish"
        time.sleep(3)
    return state


def _trigger(api, dag_id: str, conf: dict) -> str:
    _unpause(api, dag_id)
    run = api.post(f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
    run.raise_for_status()
    return run.json()["dag_run_id"]


def _run_scoring(api, day: str) -> str:
    run_id = _trigger(api, "nightjar_score", {"date": day})
    assert _wait_until_done(api, "nightjar_score", run_id) == "success"
    return run_id


def test_scheduler_runs_scoring_and_every_link_resolves(airflow, mlflow_ui, settings, config):
    base, token = airflow
    with _api(base, token) as api:
        run_id = _run_scoring(api, "2026-03-02")
        snapshot_links = _links(api, "nightjar_score", run_id, "open_snapshot")
        snapshot = _return_value(api, "nightjar_score", run_id, "open_snapshot")
        score_links = _links(api, "nightjar_score", run_id, "score")
        scored = _return_value(api, "nightjar_score", run_id, "score")
        # The demo ran the monitor through dag.test(): its links were stored the same way.
        monitor_run = api.get("/api/v2/dags/nightjar_monitor/dagRuns").json()["dag_runs"][0]
        drift_link = _links(api, "nightjar_monitor", monitor_run["dag_run_id"], "measure_drift")[
            "Drift report"
        ]

        # lakeFS: the pinned commit, browsable in the stand-in.
        commit_link = snapshot_links["lakeFS commit"]
        assert commit_link.endswith(f"/browse/nightjar/{snapshot['commit_id']}/")
        creds = standin_credentials(settings)
        page = httpx.get(
            commit_link, timeout=10, auth=(creds["access_key_id"], creds["secret_access_key"])
        )
        assert page.status_code == 200 and "raw/applications" in page.text

        # MLflow: the champion's run and registered version, in the embedded MLflow UI.
        assert score_links["MLflow run"] == f"{mlflow_ui}/#/runs/{scored['run_id']}"
        assert score_links["Registered model"] == (
            f"{mlflow_ui}/#/models/{config.model.name}/versions/{scored['version']}"
        )
        assert httpx.get(score_links["MLflow run"], timeout=10).status_code == 200
        mlflow_run = httpx.get(
            f"{mlflow_ui}/api/2.0/mlflow/runs/get", params={"run_id": scored["run_id"]}
        )
        assert mlflow_run.json()["run"]["info"]["run_id"] == scored["run_id"]
        version = httpx.get(
            f"{mlflow_ui}/api/2.0/mlflow/model-versions/get",
            params={"name": config.model.name, "version": scored["version"]},
        )
        assert version.json()["model_version"]["run_id"] == scored["run_id"]

        # The model card and the drift report: served by the Nightjar page, behind auth.
        card = api.get(score_links["Model card"])
        assert card.status_code == 200 and f"v{scored['version']}" in card.text
        report = api.get(drift_link)
        assert report.status_code == 200 and "<html" in report.text.lower()
        assert "Nightjar drift" in report.text and len(report.text) < 1_000_000
        # The report refers to Evidently's bundle, served beside it, instead of inlining it.
        bundle = re.search(r'<script src="(js/evidently-[^"]+\.js)"', report.text)
        assert bundle, "the report does not refer to Evidently's bundle"
        lib = api.get(f"{drift_link.rsplit('/', 1)[0]}/{bundle[1]}")
        assert lib.status_code == 200 and len(lib.content) > 1_000_000
        assert httpx.get(f"{base}{drift_link}", timeout=10).status_code == 401


def _upstream_events(api, run_id: str) -> list[dict]:
    """A run's upstream Asset events; none yet while the API answers with an error (its
    SQLite store is busy under the scheduler's load; the caller polls again)."""
    path = f"/api/v2/dags/nightjar_score/dagRuns/{run_id}/upstreamAssetEvents"
    response = api.get(path)
    return response.json()["asset_events"] if response.status_code == 200 else []


def _scoring_run_fed_by(api, watch_id: str) -> tuple[str, list[dict]]:
    """The asset-triggered scoring run that consumed the event of watcher run ``watch_id``
    (unpausing the watcher also lets the scheduler run its latest 15-minute interval,
    which may see the demo's earlier merges and emit an event of its own)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        runs = api.get(
            "/api/v2/dags/nightjar_score/dagRuns", params={"run_type": "asset_triggered"}
        ).json()["dag_runs"]
        for run in runs:
            events = _upstream_events(api, run["dag_run_id"])
            if any(e["source_run_id"] == watch_id for e in events):
                return run["dag_run_id"], events
        time.sleep(3)
    raise AssertionError(f"no asset-triggered scoring run consumed {watch_id}'s event")


def test_a_commit_on_main_triggers_scoring_through_the_scheduler(airflow):
    """The watcher, triggered as from the UI, sees the demo's merges into main and emits
    RAW_DATA; the scheduler then starts an asset-triggered scoring run for that date."""
    base, token = airflow
    with _api(base, token) as api:
        _unpause(api, "nightjar_score")
        watch_id = _trigger(api, "nightjar_watch_main", {})
        assert _wait_until_done(api, "nightjar_watch_main", watch_id) == "success"
        changes = _return_value(api, "nightjar_watch_main", watch_id, "detect_raw_changes")
        assert changes["date"] == changes["dates"][-1] and changes["commit_id"]
        run_id, triggered_by = _scoring_run_fed_by(api, watch_id)
        assert _wait_until_done(api, "nightjar_score", run_id) == "success"
        scored = _return_value(api, "nightjar_score", run_id, "score")
    assert {e["source_dag_id"] for e in triggered_by} == {"nightjar_watch_main"}
    assert changes["date"] in {e["extra"]["date"] for e in triggered_by}
    # One run may consume several queued events: it scores every date they name, in order.
    named = sorted({e["extra"]["date"] for e in triggered_by})
    assert [night["score_date"] for night in scored["dates"]] == named


def _chrome():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1600",
    ):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium")
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


GAP_DAY = "2026-03-05"  # landed on main and left unscored on purpose


def _land_unscored_day(settings, config) -> None:
    """Raw data for GAP_DAY merged into main, with the watcher paused so nothing scores it."""
    import datetime as dt

    from nightjar.embedded import demo_data
    from nightjar.ingest.landing import Batch, ingest
    from nightjar.io.lakefs_client import make_client

    day = dt.date.fromisoformat(GAP_DAY)
    frame = demo_data.applications_for(day, demo_data.DemoSpec())
    batches = [Batch("applications", day, frame)]
    client, repository = make_client(settings), settings.lakefs_repository
    ingest(client, config, repository, "ingest-ui-gap", batches, message=GAP_DAY, metadata={})


def _grid_links_resolve(browser, base: str, token: str, settings) -> list[str]:
    """Every link in the status grid, fetched as its reader would: Airflow and the page with
    the session's token, the stand-in's browser with its credentials. Returns the failures."""
    creds = standin_credentials(settings)
    failures = []
    hrefs = {a.get_attribute("href") for a in browser.find_elements("css selector", "#grid a")}
    assert hrefs, "the grid has no links"
    for href in sorted(hrefs):
        if href.startswith(base):
            response = httpx.get(href, headers={"Authorization": f"Bearer {token}"}, timeout=10,
                                 cookies={"_token": token})  # fmt: skip
        else:
            auth = (creds["access_key_id"], creds["secret_access_key"])
            response = httpx.get(href, auth=auth, timeout=10)
        if response.status_code != 200:
            failures.append(f"{href}: {response.status_code}")
    return failures


@pytest.mark.skipif(
    not (shutil.which("chromium") and shutil.which("chromedriver")),
    reason="Debian's chromium and chromium-driver are not installed",
)
def test_the_page_shows_champion_nights_and_drift_in_chromium(airflow, settings, config, tmp_path):
    base, token = airflow
    with _api(base, token) as api:
        api.patch("/api/v2/dags/nightjar_watch_main", json={"is_paused": True}).raise_for_status()
    _land_unscored_day(settings, config)
    browser = _chrome()
    try:
        browser.get(f"{base}/api/v2/monitor/health")
        browser.add_cookie({"name": "_token", "value": token, "path": "/"})
        browser.get(f"{base}/nightjar/?entity=20260301-000001&date=2026-03-01")
        text = browser.find_element("tag name", "body").text
        assert f"{config.model.name} v1" in browser.find_element("id", "champion").text
        assert browser.find_element("id", "gate").text == "passed"
        assert "2026-03-01" in browser.find_element("id", "nights").text
        assert "Drift status per feature" in text and "income_log" in text
        assert "Lineage of 20260301-000001" in text
        # The status grid: the scored nights done, the unscored day marked, its backfill given.
        gap = browser.find_element("id", f"date-{GAP_DAY}")
        assert gap.get_attribute("class") == "gap"
        cells = gap.find_elements("css selector", "td.cell")
        assert [c.get_attribute("data-state") for c in cells][:3] == ["done", "missing", "missing"]
        scored = browser.find_element("id", "date-2026-03-01").find_elements(
            "css selector", "td.cell"
        )
        assert [c.get_attribute("data-state") for c in scored][:3] == ["done", "done", "done"]
        backfill = browser.find_element("id", "backfill").text
        assert f"--from-date {GAP_DAY} --to-date 2026-03-06" in backfill, backfill
        assert _grid_links_resolve(browser, base, token, settings) == []
        # Charts with axes and dates (matplotlib's SVG), not bare bars.
        rows_chart = browser.find_element("id", "rows-chart").text
        assert "rows scored" in rows_chart and "2026-03-01" in rows_chart, rows_chart
        assert "champion's holdout mean" in browser.find_element("id", "probability-chart").text
        assert "PSI" in browser.find_element("id", "psi-chart").text
        # Nothing wider than the 1280 px window.
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 1280
        # The chain `nightjar explain` prints, from the same function.
        chain = browser.find_element("id", "chain").text
        assert chain.startswith("20260301-000001 on 2026-03-01: probability"), chain
        assert f"model     {config.model.name} v1" in chain and "MLflow run" in chain, chain
        shot = tmp_path / SCREENSHOT.name
        browser.save_screenshot(str(shot))
    finally:
        browser.quit()
    assert shot.stat().st_size > 10_000
    if os.environ.get("NIGHTJAR_UPDATE_SCREENSHOTS"):
        shutil.copyfile(shot, SCREENSHOT)
