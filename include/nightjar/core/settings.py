"""Runtime settings: where each service lives and how to reach it.

One typed object, read from ``NIGHTJAR_*`` environment variables (and an optional
``.env`` file), so the same code runs on the embedded stack and in production: only
configuration changes. Everything the embedded stack writes lives under ``home``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[3]
"""The checkout (its dags/ and plugins/, for the embedded stack); meaningless once installed."""
PACKAGED_CONFIGS = Path(__file__).resolve().parents[1] / "configs"
"""The example dataset config and gate policy, shipped with the package."""


class Settings(BaseSettings):
    """Service endpoints and locations; defaults describe the embedded stack."""

    model_config = SettingsConfigDict(env_prefix="NIGHTJAR_", env_file=".env", extra="ignore")

    home: Path = Field(default=Path(".nightjar"), description="Embedded stack state folder.")
    datasets_dir: Path = Field(
        default=PACKAGED_CONFIGS / "datasets",
        description="The folder of dataset configs (one YAML file each) Nightjar serves.",
    )
    dataset_config: Path | None = Field(
        default=None,
        description="One dataset config instead of a folder of them (a folder of one).",
    )
    dataset: str | None = Field(
        default=None,
        description="The dataset a command acts on when several are served (--dataset).",
    )
    lakefs_endpoint: str | None = Field(
        default=None, description="lakeFS URL; unset means the embedded stand-in."
    )
    lakefs_access_key_id: str | None = None
    lakefs_secret_access_key: SecretStr | None = None
    lakefs_repository: str = "nightjar"
    lakefs_storage_namespace: str | None = Field(
        default=None,
        description="Storage namespace for a new repository (e.g. s3://bucket/nightjar).",
    )
    lakefs_standin_port: int = Field(default=8765, description="Port of the embedded stand-in.")
    lakefs_retry_attempts: int = Field(
        default=5,
        ge=1,
        le=20,
        description="Attempts at a lakeFS call that fails transiently (no answer, 5xx), with "
        "backoff; the CLI makes 2, so a user waits seconds, not half a minute.",
    )
    mlflow_tracking_uri: str | None = Field(
        default=None, description="MLflow tracking URI; unset means SQLite under home."
    )
    mlflow_tracking_username: str | None = Field(
        default=None, description="User for a tracking server with basic auth."
    )
    mlflow_tracking_password: SecretStr | None = None
    lakefs_conn_id: str = Field(
        default="lakefs_default",
        description="Airflow connection a task takes lakeFS's endpoint and keys from, when the "
        "deployment has it (nightjar.airflow.connections); else NIGHTJAR_LAKEFS_*.",
    )
    mlflow_conn_id: str = Field(
        default="mlflow_default",
        description="Airflow connection a task takes the MLflow tracking server and its login "
        "from, when the deployment has it; else NIGHTJAR_MLFLOW_TRACKING_*.",
    )
    airflow_port: int = Field(
        default=8080, description="Port of the Airflow API server and UI on 127.0.0.1."
    )
    openlineage_transport: str | None = Field(
        default=None,
        description="OpenLineage transport as Airflow's [openlineage] transport JSON, e.g. "
        '{"type": "http", "url": "http://127.0.0.1:5000"} for Marquez; unset means a file '
        "of JSON lines under home (lineage/openlineage.jsonl).",
    )
    openlineage_namespace: str = Field(
        default="nightjar", description="OpenLineage namespace of Nightjar's jobs."
    )
    spark_master: str = "local[2]"
    spark_jars: Path | None = Field(
        default=None,
        description="Folder of the pinned JVM jars (delta-spark, hadoop-aws and the AWS SDK); "
        "unset means <cache_dir>/jars, where `nightjar spark fetch-jars` puts them.",
    )
    spark_driver_memory: str = "2g"
    spark_driver_retire_share: float = Field(
        default=0.6,
        ge=0.0,
        le=1.0,
        description="The shared Spark driver retires (and the stack starts a fresh one) "
        "when more than this share of its heap survives a full collection.",
    )
    spark_shared_driver: bool = Field(
        default=True,
        description="With a local master, attach to the long-lived driver `nightjar "
        "airflow` runs for the same Spark settings, instead of starting one per task.",
    )
    spark_conf: dict[str, str] = Field(
        default_factory=dict,
        description='Further Spark settings, as JSON (e.g. \'{"spark.executor.memory": '
        "\"4g\"}'), for the cluster Nightjar is pointed at; applied after Nightjar's own.",
    )
    spark_writer: Literal["delta-rs", "delta-spark"] = Field(
        default="delta-rs",
        description="How a Spark job's large output becomes a Delta partition. delta-rs: "
        "executors write Parquet files that delta-rs commits (local or mounted warehouse; no "
        "JVM Delta, so local sessions start fast). delta-spark: executors write and commit "
        "with delta-spark (any warehouse Spark reaches; needs `nightjar spark fetch-jars`).",
    )
    raw_reader: Literal["lakefs-sdk", "s3a"] = Field(
        default="lakefs-sdk",
        description="How feature jobs read the raw tables at the run's lakeFS commit. "
        "lakefs-sdk: the task process downloads them through the lakeFS SDK and validates "
        "them with pandas (fast for the embedded stack's small batches). s3a: Spark's "
        "executors read s3a://<repo>/<commit>/<path> through lakeFS's S3 gateway, validate "
        "them and write the quarantine with delta-spark; no row passes through the driver "
        "(needs `nightjar spark fetch-jars`).",
    )
    spark_write_min_rows: int = Field(
        default=2_000_000,
        description="With the delta-rs writer, feature outputs this large are written by Spark "
        "executors and committed by delta-rs (local or mounted warehouse); smaller ones are "
        "collected through Arrow. With delta-spark, the executors always write.",
    )
    scoring_engine: Literal["arrow", "spark"] = Field(
        default="arrow",
        description="arrow: score Arrow batches in the task process (fastest on one machine, "
        "see bench/); spark: the executors read the features partition with delta-spark, "
        "score it with mapInArrow and write it with delta-spark (needs `nightjar spark "
        "fetch-jars`); no row passes through the driver.",
    )
    compile_budget_seconds: float = Field(
        default=120,
        description="Time a new model version's forest may take to compile with lleaves at "
        "registration; past it (or on any compile error) the version scores with LightGBM's "
        "Booster. 0 turns compilation off.",
        ge=0,
    )
    scoring_threads: int | None = Field(
        default=None,
        description="Threads a scoring process predicts with (compiled forest or Booster); "
        "unset means every core. The Spark engine's executors use one per task.",
        ge=1,
    )
    warehouse_uri: str | None = Field(
        default=None,
        description="Where Delta tables live: a path, s3://..., or lakefs://repo/branch/path "
        "(delta-rs's lakeFS mode); unset means home/warehouse.",
    )
    reports_root: Path | None = Field(
        default=None,
        description="Folder of the HTML drift reports, one subfolder per dataset; unset means "
        "home/reports. Tasks write them and the API server's plugin serves them, so on "
        "several machines (CeleryExecutor workers, compose services) it is a shared volume.",
    )
    mlflow_ui_url: str = Field(
        default="http://127.0.0.1:5000", description="Base URL of the MLflow UI, for links."
    )
    lakefs_ui_url: str | None = Field(
        default=None, description="Base URL of the lakeFS UI; unset means the endpoint."
    )
    gate_failed_webhook: SecretStr | None = Field(
        default=None,
        description="http(s) URL that gets a JSON POST when a challenger fails the gate "
        "(Slack-compatible: a 'text' field); a secret, since such URLs carry a token.",
    )
    runtime_image: str | None = Field(
        default=None, description="Container image reference, recorded as lineage."
    )
    git_commit: str | None = Field(
        default=None, description="Code commit recorded as lineage; read from git when unset."
    )
    cache_dir: Path | None = Field(
        default=None,
        description="Machine-wide artifacts every home shares (Spark's class archive, the "
        "pinned jars); unset means $XDG_CACHE_HOME/nightjar, else ~/.cache/nightjar.",
    )

    @field_validator("dataset")
    @classmethod
    def _dataset_is_a_name(cls, value: str | None) -> str | None:
        from nightjar.core.names import validate_identifier

        return value if value is None else validate_identifier(value, what="dataset name")

    @model_validator(mode="after")
    def _settings_that_work_together(self) -> Settings:
        """Refuse, at load, settings that would fail later on every date: the s3a reader
        writes the rows it sets aside with delta-spark, which cannot reach a Delta table
        behind a ``lakefs://`` URI (no Hadoop file system for the scheme)."""
        if self.raw_reader == "s3a" and self.warehouse.startswith("lakefs://"):
            raise ValueError(
                "NIGHTJAR_RAW_READER=s3a cannot write to NIGHTJAR_WAREHOUSE_URI=lakefs://...: "
                "the executors' delta-spark has no lakefs:// file system; keep the warehouse "
                "on a path or s3://, or read raw data with the default lakefs-sdk reader"
            )
        return self

    @cached_property
    def home_dir(self) -> Path:
        """The embedded stack's state folder, absolute."""
        return self.home.expanduser().resolve()

    @cached_property
    def cache_path(self) -> Path:
        """Where artifacts derived from the installed software, not from data, are kept."""
        if self.cache_dir is not None:
            return self.cache_dir.expanduser().resolve()
        xdg = os.environ.get("XDG_CACHE_HOME")
        return (Path(xdg) if xdg else Path.home() / ".cache") / "nightjar"

    @property
    def spark_jars_path(self) -> Path:
        """Where the pinned JVM jars are: NIGHTJAR_SPARK_JARS, else the cache's jars folder."""
        return (
            self.spark_jars.expanduser().resolve() if self.spark_jars else self.cache_path / "jars"
        )

    @property
    def spark_uses_delta(self) -> bool:
        """Whether Spark sessions load delta-spark: its writer, the Spark scoring engine
        (which reads and writes Delta on the executors) or the s3a reader (whose quarantine
        rows the executors write) asks for it."""
        return (
            self.spark_writer == "delta-spark"
            or self.scoring_engine == "spark"
            or self.raw_reader == "s3a"
        )

    @property
    def standin_dir(self) -> Path:
        """Where the lakeFS stand-in keeps its repositories."""
        return self.home_dir / "lakefs"

    @property
    def warehouse(self) -> str:
        """Where the Delta tables live: NIGHTJAR_WAREHOUSE_URI, else under home."""
        return self.warehouse_uri or str(self.home_dir / "warehouse")

    @property
    def mlflow_uri(self) -> str:
        """The MLflow tracking store: the configured server, else SQLite under home."""
        return self.mlflow_tracking_uri or f"sqlite:///{self.home_dir / 'mlflow' / 'mlflow.db'}"

    @property
    def openlineage_events_file(self) -> Path:
        """Where the default file transport appends the OpenLineage events, one per line."""
        return self.home_dir / "lineage" / "openlineage.jsonl"

    @property
    def openlineage_transport_json(self) -> str:
        """The transport Airflow's OpenLineage provider is given: the configured one, else
        the file under home."""
        if self.openlineage_transport:
            return self.openlineage_transport
        file = {"type": "file", "log_file_path": str(self.openlineage_events_file), "append": True}
        return json.dumps(file)

    @property
    def mlflow_artifact_root(self) -> str:
        """Where embedded MLflow experiments keep their artifacts."""
        return (self.home_dir / "mlflow" / "artifacts").as_uri()

    def reports_dir(self, dataset: str) -> Path:
        """Where a dataset's HTML drift reports are written (and served from)."""
        from nightjar.core.names import validate_identifier

        root = self.reports_root.expanduser() if self.reports_root else self.home_dir / "reports"
        return root / validate_identifier(dataset)

    def table_uri(self, name: str) -> str:
        """URI of the Delta table ``name`` (a validated identifier) in the warehouse."""
        from nightjar.core.names import validate_identifier

        return f"{self.warehouse.rstrip('/')}/{validate_identifier(name)}"


# What a task's Airflow connections say about its stores (``nightjar.airflow.connections``),
# over the environment's, while its step runs; nothing outside a task. A context variable,
# not the process's environment: nothing of one task's outlives it.
_FROM_CONNECTIONS: ContextVar[dict[str, object]] = ContextVar("nightjar_from_connections")


@contextmanager
def from_connections(values: dict[str, object]) -> Iterator[None]:
    """Within the block, ``load_settings`` gives ``values`` (Settings fields) over the
    environment's."""
    token = _FROM_CONNECTIONS.set(dict(values))
    try:
        yield
    finally:
        _FROM_CONNECTIONS.reset(token)


def load_settings() -> Settings:
    """Settings from the environment, read fresh each call (tasks run in new processes),
    with what the task's Airflow connections give over it (``from_connections``); a bad
    value raises ``ConfigError`` naming each variable and what is wrong with it."""
    from pydantic import ValidationError

    from nightjar.core.errors import ConfigError

    try:
        return Settings(**_FROM_CONNECTIONS.get({}))
    except ValidationError as error:
        problems = "; ".join(
            f"NIGHTJAR_{str(item['loc'][0]).upper()}={item.get('input')!r}: {item['msg']}"
            if item["loc"]
            else item["msg"].removeprefix("Value error, ")
            for item in error.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
