"""The settings a command runs with: the environment's, with the CLI's own defaults.

A person at a shell waits for the answer: a lakeFS call that fails transiently is tried
twice, not five times as a task's is (a task has the night; a person has a prompt).
``NIGHTJAR_LAKEFS_RETRY_ATTEMPTS`` set in the environment wins. The services a command
starts (Airflow's components, their tasks) read the environment, not these defaults.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from nightjar.core.settings import Settings, load_settings

if TYPE_CHECKING:
    from nightjar.core.dataset_config import DatasetConfig

CLI_LAKEFS_ATTEMPTS = 2


def cli_settings() -> Settings:
    """The environment's settings, with the CLI's defaults where the environment is silent,
    and the dataset ``--dataset`` names."""
    import click

    settings = load_settings()
    if "NIGHTJAR_LAKEFS_RETRY_ATTEMPTS" not in os.environ:
        settings = settings.model_copy(update={"lakefs_retry_attempts": CLI_LAKEFS_ATTEMPTS})
    context = click.get_current_context(silent=True)
    chosen = context.find_root().params.get("dataset") if context is not None else None
    if chosen:
        settings = settings.model_copy(update={"dataset": chosen})
    return settings


def cli_dataset() -> tuple[Settings, DatasetConfig]:
    """The settings and config of the dataset the command acts on: ``--dataset``
    (``NIGHTJAR_DATASET``), else the only one; a one-line error listing the datasets
    otherwise."""
    from nightjar.core.datasets import dataset_config, settings_for

    settings = cli_settings()
    config = dataset_config(settings)
    return settings_for(settings, config), config
