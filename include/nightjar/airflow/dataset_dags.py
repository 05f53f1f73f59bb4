"""What a dataset's DAGs take from its config, read when Airflow parses the DAG files.

One DAG file per stage builds that stage's DAG for every dataset in the folder
(``NIGHTJAR_DATASETS_DIR``): ids, Assets, schedules, pools, priority, owner and tags come
from here. A config that does not load gives no DAGs and is reported by
``dags/nightjar_dataset_configs.py`` as that file's import error, naming the config file
and the field; the other datasets' DAGs parse as if it were not there.

Imported at parse time: it reads the local config files and nothing else (no service,
no PySpark: ``load_datasets(functions=False)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nightjar.core import vocabulary
from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.datasets import Datasets, load_datasets
from nightjar.core.errors import ConfigError
from nightjar.core.settings import load_settings


@dataclass(frozen=True)
class DatasetDags:
    """One dataset's DAG settings."""

    name: str
    owner: str
    description: str
    tags: tuple[str, ...]
    score_schedule: str
    retrain_schedule: str
    pool: str
    loop_guard_pool: str
    priority_weight: int

    @classmethod
    def of(cls, config: DatasetConfig) -> DatasetDags:
        spec = config.airflow
        return cls(
            name=config.name,
            owner=config.owner or "nightjar",
            description=config.description,
            tags=("nightjar", f"dataset:{config.name}", *spec.tags),
            score_schedule=spec.score_schedule,
            retrain_schedule=spec.retrain_schedule,
            pool=vocabulary.dataset_pool(config.name),
            loop_guard_pool=vocabulary.loop_guard_pool(config.name),
            priority_weight=spec.priority_weight,
        )

    def dag_id(self, stage: str) -> str:
        return vocabulary.dag_id(stage, self.name)

    def stage_tags(self, stage_tag: str) -> list[str]:
        return [*self.tags, stage_tag]

    def default_args(self, defaults: dict[str, Any]) -> dict[str, Any]:
        """``defaults`` (retries, delay) with the dataset's owner, pool and priority: its
        nightly and triggered runs' tasks at ``priority_weight``, a backfill's at 1
        (``NightlyBeforeBackfill``)."""
        from nightjar.airflow.priority import NightlyBeforeBackfill

        return {
            **defaults,
            "owner": self.owner,
            "pool": self.pool,
            "priority_weight": self.priority_weight,
            "weight_rule": NightlyBeforeBackfill(),
        }

    def doc(self, stage_doc: str | None) -> str:
        """The stage's docstring, headed by the dataset."""
        head = f"**Dataset `{self.name}`**" + (f": {self.description}" if self.description else "")
        return f"{head}\n\n{stage_doc or ''}"


def _datasets() -> tuple[Datasets, str | None]:
    """The folder's datasets, and why none could be read (no folder, a bad setting)."""
    try:
        return load_datasets(load_settings(), functions=False), None
    except ConfigError as error:
        return Datasets(), str(error)


def served_datasets() -> list[DatasetDags]:
    """The datasets whose configs load, by name."""
    loaded, _ = _datasets()
    return [DatasetDags.of(loaded.configs[name]) for name in sorted(loaded.configs)]


def config_problems() -> list[str]:
    """One entry per config that did not load (its path and what is wrong), or why none
    could be read; empty when every config loads."""
    loaded, unreadable = _datasets()
    if unreadable:
        return [unreadable]
    problems = [error for _, error in sorted(loaded.errors.items())]
    if not loaded.configs and not problems:
        problems.append(f"no dataset configs in {load_settings().datasets_dir}")
    return problems
