"""The settings a command runs with: the environment's, with the CLI's own defaults.

A person at a shell waits for the answer: a lakeFS call that fails transiently is tried
twice, not five times as a task's is (a task has the night; a person has a prompt).
``NIGHTJAR_LAKEFS_RETRY_ATTEMPTS`` set in the environment wins. The services a command
starts (Airflow's components, their tasks) read the environment, not these defaults.
"""

from __future__ import annotations

import os

from nightjar.core.settings import Settings, load_settings

CLI_LAKEFS_ATTEMPTS = 2


def cli_settings() -> Settings:
    """The environment's settings, with the CLI's defaults where the environment is silent."""
    settings = load_settings()
    if "NIGHTJAR_LAKEFS_RETRY_ATTEMPTS" not in os.environ:
        settings = settings.model_copy(update={"lakefs_retry_attempts": CLI_LAKEFS_ATTEMPTS})
    return settings
