"""Facts about the code and runtime, recorded as lineage with data, models and scores."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from functools import cache

from nightjar.core.settings import PROJECT_ROOT, load_settings

TRACKED_PACKAGES = (
    "apache-airflow",
    "pyspark",
    "deltalake",
    "mlflow",
    "pandera",
    "lightgbm",
    "evidently",
    "lakefs",
    "lakefs-sdk",
    "pandas",
    "pyarrow",
    "numpy",
)


@cache
def code_version() -> str:
    """The git commit of the running code (``-dirty`` when the tree has local changes).

    ``NIGHTJAR_GIT_COMMIT`` wins, for images built without the .git folder.
    """
    configured = load_settings().git_commit
    if configured:
        return configured
    try:
        sha = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def runtime_versions() -> dict[str, str]:
    """Python and key package versions, plus the container image when there is one."""
    versions = {"python": platform.python_version()}
    for package in TRACKED_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    versions["image"] = load_settings().runtime_image or "none (not in a container)"
    return versions


def short_commit(commit: str) -> str:
    """A code commit cut to 12 characters for display, keeping its ``-dirty`` mark."""
    sha, dirty, _ = commit.partition("-dirty")
    return sha[:12] + ("-dirty" if dirty else "")
