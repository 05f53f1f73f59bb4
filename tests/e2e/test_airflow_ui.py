"""The Nightjar page and extra links in a real `airflow standalone`, seen by headless Chromium.

Runs after the demo loop (the e2e session fixture): starts Airflow on a free port with the
session's home, lets the scheduler run one scoring date, checks the task's extra links
resolve, and renders the Nightjar page in Chromium (Debian's chromium + chromium-driver),
saving a screenshot (to docs/ when NIGHTJAR_UPDATE_SCREENSHOTS is set).
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from nightjar.embedded import airflow_env, standin_credentials

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).parents[2]
SCREENSHOT = ROOT / "docs" / "nightjar-page.png"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def airflow(demo_world, tmp_path_factory):
    port = _free_port()
    # dag.test() in this process leaves Airflow settings in os.environ: start clean.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW"))}
    env = {
        **inherited,
        **airflow_env(demo_world),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    log = tmp_path_factory.mktemp("airflow") / "standalone.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "airflow"), "standalone"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/v2/monitor/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(1)
    else:
        proc.terminate()
        pytest.fail(f"airflow standalone did not come up:\n{log.read_text()[-3000:]}")
    passwords = Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
    while not passwords.is_file() and time.monotonic() < deadline:
        time.sleep(1)
    password = json.loads(passwords.read_text())["admin"]
    token = httpx.post(
        f"{base}/auth/token", json={"username": "admin", "password": password}, timeout=10
    ).json()["access_token"]
    yield base, token
    os.killpg(proc.pid, 15)
    proc.wait(timeout=60)


def _api(base, token):
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_the_page_needs_airflow_auth(airflow):
    base, _ = airflow
    assert httpx.get(f"{base}/nightjar/", timeout=10).status_code == 401


def test_scheduler_runs_scoring_and_links_resolve(airflow, settings):
    base, token = airflow
    day = "2026-03-02"
    with _api(base, token) as api:
        deadline = time.monotonic() + 120
        while api.get("/api/v2/dags/nightjar_score").status_code != 200:
            assert time.monotonic() < deadline, "the DAG was never parsed"
            time.sleep(2)
        api.patch("/api/v2/dags/nightjar_score", json={"is_paused": False}).raise_for_status()
        run = api.post(
            "/api/v2/dags/nightjar_score/dagRuns",
            json={"logical_date": None, "conf": {"date": day}},
        )
        run.raise_for_status()
        run_id = run.json()["dag_run_id"]
        deadline = time.monotonic() + 600
        while (
            state := api.get(f"/api/v2/dags/nightjar_score/dagRuns/{run_id}").json()["state"]
        ) not in ("success", "failed"):
            assert time.monotonic() < deadline, "the scoring run did not finish"
            time.sleep(3)
        assert state == "success"
        links = api.get(
            f"/api/v2/dags/nightjar_score/dagRuns/{run_id}/taskInstances/open_snapshot/links"
        ).json()
        commit_link = links["extra_links"].get("lakeFS commit")
        snapshot = api.get(
            f"/api/v2/dags/nightjar_score/dagRuns/{run_id}/taskInstances/"
            "open_snapshot/xcomEntries/return_value"
        ).json()["value"]
    assert commit_link and commit_link.endswith(f"/browse/nightjar/{snapshot['commit_id']}/")
    creds = standin_credentials(settings)
    page = httpx.get(
        commit_link, timeout=10, auth=(creds["access_key_id"], creds["secret_access_key"])
    )
    assert page.status_code == 200 and "raw/applications" in page.text


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


@pytest.mark.skipif(
    not (shutil.which("chromium") and shutil.which("chromedriver")),
    reason="Debian's chromium and chromium-driver are not installed",
)
def test_the_page_shows_champion_nights_and_drift_in_chromium(airflow, config, tmp_path):
    base, token = airflow
    browser = _chrome()
    try:
        browser.get(f"{base}/api/v2/monitor/health")
        browser.add_cookie({"name": "_token", "value": token, "path": "/"})
        browser.get(f"{base}/nightjar/?entity=20260301-000001&date=2026-03-01")
        text = browser.find_element("tag name", "body").text
        assert f"{config.model.name} v1" in browser.find_element("id", "champion").text
        assert "2026-03-01" in browser.find_element("id", "nights").text
        assert "Drift status per feature" in text and "income_log" in text
        assert "Lineage of 20260301-000001" in text
        shot = tmp_path / SCREENSHOT.name
        browser.save_screenshot(str(shot))
    finally:
        browser.quit()
    assert shot.stat().st_size > 10_000
    if os.environ.get("NIGHTJAR_UPDATE_SCREENSHOTS"):
        shutil.copyfile(shot, SCREENSHOT)
