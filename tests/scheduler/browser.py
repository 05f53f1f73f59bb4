"""Headless Chromium (Debian's chromium and chromium-driver) signed in to Airflow, and the
check that every link of a page resolves for the person who would follow it."""

from __future__ import annotations

import shutil
from urllib.parse import urljoin

import httpx
import pytest

needs_chromium = pytest.mark.skipif(
    not (shutil.which("chromium") and shutil.which("chromedriver")),
    reason="Debian's chromium and chromium-driver are not installed",
)
WIDTH = 1280


def chrome(base_url: str, token: str):
    """A 1280-px-wide headless Chromium holding Airflow's session cookie, as after sign-in."""
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
        f"--window-size={WIDTH},1600",
    ):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium")
    browser = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    browser.get(f"{base_url}/api/v2/monitor/health")
    browser.add_cookie({"name": "_token", "value": token, "path": "/"})
    return browser


def broken_links(
    hrefs: set[str], base_url: str, token: str, lakefs_auth: tuple[str, str]
) -> list[str]:
    """Each of ``hrefs`` fetched as its reader would: Airflow's pages and Nightjar's with
    the session token, the lakeFS stand-in's browser with its credentials, the MLflow UI
    (a run's link: its run, through the MLflow API). Returns the links that did not answer
    200."""
    failures = []
    for href in sorted(hrefs):
        url = urljoin(f"{base_url}/", href)
        if url.startswith(base_url):
            response = httpx.get(
                url, headers={"Authorization": f"Bearer {token}"}, cookies={"_token": token},
                timeout=20,
            )  # fmt: skip
        elif "/browse/" in url or "/repositories/" in url:
            response = httpx.get(url, auth=lakefs_auth, timeout=20)
        elif "/#/runs/" in url:  # the MLflow UI's page is one app: ask its API for the run
            ui, run_id = url.split("/#/runs/")
            response = httpx.get(f"{ui}/api/2.0/mlflow/runs/get", params={"run_id": run_id})
        else:
            response = httpx.get(url, timeout=20)
        if response.status_code != 200:
            failures.append(f"{url}: {response.status_code}")
    return failures
