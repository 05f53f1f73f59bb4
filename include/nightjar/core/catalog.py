"""Where one dataset's data lives: its Delta tables, its lakeFS repository, its reports.

A step is handed its dataset's catalog and reads and writes what the catalog names; it
never builds a table's location from the settings and a name itself (kedro's catalog is
the model). Every dataset has one, over the one warehouse and the one MLflow that
Nightjar's datasets share: tables carry the dataset's name, models are the dataset's
own, and its raw tables live in its lakeFS repository (its own, or the shared one at
paths no other dataset uses; ``core.datasets`` refuses two datasets one path).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nightjar.core.dataset_config import DatasetConfig
from nightjar.core.settings import Settings

TABLES = (
    "features",
    "training_features",
    "scores",
    "shadow_scores",
    "score_summary",
    "challenger_comparison",
    "drift_metrics",
    "drift_counts",
    "retrain_signals",
    "performance_metrics",
    "retrain_decisions",
    "retrain_requests",
    "quarantine",
)


@dataclass(frozen=True)
class Catalog:
    """One dataset's locations."""

    dataset: str
    warehouse: str
    lakefs_repository: str
    reports_dir: Path

    def table(self, kind: str) -> str:
        """The URI of the dataset's Delta table ``kind`` (one of ``TABLES``)."""
        from nightjar.core.names import validate_identifier

        if kind not in TABLES:
            raise KeyError(f"{kind!r} is not one of the catalog's tables {TABLES}")
        return f"{self.warehouse.rstrip('/')}/{validate_identifier(f'{kind}_{self.dataset}')}"

    def table_name(self, kind: str) -> str:
        """The name analysts query the table ``kind`` by (``scores_credit_default``)."""
        return self.table(kind).rsplit("/", 1)[-1]

    @property
    def features(self) -> str:
        return self.table("features")

    @property
    def training_features(self) -> str:
        return self.table("training_features")

    @property
    def scores(self) -> str:
        return self.table("scores")

    @property
    def shadow_scores(self) -> str:
        return self.table("shadow_scores")

    @property
    def score_summary(self) -> str:
        return self.table("score_summary")

    @property
    def challenger_comparison(self) -> str:
        return self.table("challenger_comparison")

    @property
    def drift_metrics(self) -> str:
        return self.table("drift_metrics")

    @property
    def drift_counts(self) -> str:
        return self.table("drift_counts")

    @property
    def retrain_signals(self) -> str:
        return self.table("retrain_signals")

    @property
    def performance_metrics(self) -> str:
        return self.table("performance_metrics")

    @property
    def retrain_decisions(self) -> str:
        return self.table("retrain_decisions")

    @property
    def retrain_requests(self) -> str:
        return self.table("retrain_requests")

    @property
    def quarantine(self) -> str:
        return self.table("quarantine")


def catalog_for(settings: Settings, config: DatasetConfig) -> Catalog:
    """The catalog of ``config``'s dataset in the warehouse and lakeFS ``settings`` name."""
    return Catalog(
        dataset=config.name,
        warehouse=settings.warehouse,
        lakefs_repository=config.lakefs_repository or settings.lakefs_repository,
        reports_dir=settings.reports_dir(config.name),
    )
