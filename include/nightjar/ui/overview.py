"""The page's front: every dataset Nightjar serves, one row each, linking to its page.

One ``dataset_status`` per dataset (champion, last night, gaps, failed runs, last gate,
drift) and one line per config that did not load, so a broken config is seen where the
others are, not only in Airflow's import errors.
"""

from __future__ import annotations

import datetime as dt

from nightjar.core.datasets import Datasets, settings_for
from nightjar.core.settings import Settings
from nightjar.core.templates import render as render_template
from nightjar.monitoring.dataset_status import DatasetStatus, dataset_status


def statuses(
    settings: Settings,
    datasets: Datasets,
    failed_runs: dict[str, dict[dt.date, str]] | None = None,
) -> list[DatasetStatus]:
    """Each dataset's status, by name; ``failed_runs``: per dataset, each date whose newest
    scoring run failed (None: Airflow was not read)."""
    return [
        dataset_status(
            settings_for(settings, config),
            config,
            None if failed_runs is None else failed_runs.get(name, {}),
        )
        for name, config in sorted(datasets.configs.items())
    ]


def render(
    settings: Settings,
    datasets: Datasets,
    failed_runs: dict[str, dict[dt.date, str]] | None = None,
) -> str:
    """The overview as HTML."""
    return render_template(
        "nightjar.ui",
        "overview.html.j2",
        statuses=statuses(settings, datasets, failed_runs),
        broken={path.name: error for path, error in sorted(datasets.errors.items())},
    )
