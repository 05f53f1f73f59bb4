"""The dataset config: one YAML file that onboards a use case.

It says where the raw tables are in lakeFS, how they join, the entity key and event
time, the label and when it arrives, the features, the slices, and which gate policy and
drift settings apply. Loading validates everything up front, so a bad config fails
before any job runs, naming the field and the problem.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from nightjar.core.errors import ConfigError, InvalidNameError
from nightjar.core.names import validate_identifier
from nightjar.core.notices import NoticeKind

ColumnType = Literal["string", "int", "float", "bool", "timestamp", "date"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Strict):
    """One raw column: its type and the rules a row must keep (nullability, range, categories)."""

    type: ColumnType
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    allowed: list[str] | None = Field(default=None, description="Allowed categories.")
    description: str = ""


class CsvDialect(_Strict):
    """How a source's CSV files are written."""

    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quote: str = Field(default='"', min_length=1, max_length=1)
    decimal: str = Field(default=".", min_length=1, max_length=1)


DuplicatePolicy = Literal["set_aside_all", "keep_first", "keep_last", "refuse"]


class SourceTable(_Strict):
    """A raw table in lakeFS, stored as daily partitions ``<path>/date=YYYY-MM-DD/*.parquet``."""

    path: str = Field(pattern=r"^[a-z0-9_]+(/[a-z0-9_]+)*$")
    columns: dict[str, ColumnSpec]
    unique: list[str] = Field(default_factory=list, description="Columns unique per batch.")
    duplicates: DuplicatePolicy = Field(
        default="set_aside_all",
        description="Rows of a batch that repeat a `unique` key: set every copy aside (which "
        "one is right is unknown), keep the first or the last copy in file order and set the "
        "others aside, or refuse the batch.",
    )
    late_events_hours: int = Field(
        default=0,
        ge=0,
        le=24 * 31,
        description="How long before its date a batch's events may be (events that arrived "
        "late); older ones are set aside, and a batch of another day's events is refused.",
    )
    files: str | None = Field(
        default=None,
        description="The names of this source's files in an export folder (a glob such as "
        "'events*.parquet'), for `nightjar data ingest --from-folder`; default: every "
        ".parquet and .csv file.",
    )
    csv: CsvDialect = Field(default_factory=CsvDialect)
    join_on: dict[str, str] = Field(
        default_factory=dict,
        description="Keys it joins on: a list of columns named alike on both sides, or a "
        "mapping from the joined sources' column to this source's.",
    )
    prefix: str = Field(
        default="",
        pattern=r"^([a-z][a-z0-9_]*)?$",
        description="Prepended to this source's other columns when joined, so names that "
        "collide with another source's stay apart (features use the prefixed names).",
    )
    owner: str = ""
    freshness_hours: int | None = Field(
        default=None, description="Batch must contain events this recent relative to its date."
    )
    ignore_extra: bool = Field(
        default=False,
        description="Read only the declared columns and ignore any others the files carry; "
        "by default an undeclared column is a schema break.",
    )

    @field_validator("join_on", mode="before")
    @classmethod
    def _keys_as_mapping(cls, value: list[str] | dict[str, str]) -> dict[str, str]:
        return {key: key for key in value} if isinstance(value, list) else value

    def joined_names(self) -> dict[str, str]:
        """Each column's name once joined: keys take the other side's name, the rest
        get the prefix."""
        keys = {right: left for left, right in self.join_on.items()}
        return {c: keys.get(c, f"{self.prefix}{c}") for c in self.columns}

    def contributed_names(self) -> set[str]:
        """The joined names of the columns this source adds (its join keys are the other
        side's)."""
        keys = set(self.join_on.values())
        return {joined for column, joined in self.joined_names().items() if column not in keys}

    required: bool = Field(
        default=True,
        description="False for an enrichment source that may miss a day: that day's rows get "
        "nulls for its columns, with a warning, instead of a failed run.",
    )


class LabelSpec(_Strict):
    """Where the label comes from and when it becomes known, so training never sees a label
    before it landed."""

    source: str
    column: str
    available_at: str | None = Field(
        default=None,
        description="Column holding when the label became known; without one, a label is "
        "taken as known delay_days after the date of the batch it came in.",
    )
    delay_days: int = Field(ge=0, description="How long after the event the label arrives.")


class ExprFeature(_Strict):
    """A feature computed by one Spark SQL expression over the joined row."""

    kind: Literal["expr"] = "expr"
    expr: str = Field(description="Spark SQL expression over the joined row.")


class WindowFeature(_Strict):
    """An aggregation over the entity's own earlier events, strictly before this event."""

    kind: Literal["window"] = "window"
    agg: Literal["count", "sum", "avg", "min", "max"]
    column: str
    partition_by: list[str] = Field(
        description="The column, or columns, whose earlier events are aggregated."
    )

    @field_validator("partition_by", mode="before")
    @classmethod
    def _one_or_more(cls, value: str | list[str]) -> list[str]:
        return [value] if isinstance(value, str) else value

    range_days: int = Field(gt=0, le=3650)


class TransformFeature(_Strict):
    """A feature computed by a named Python transform registered in the feature code."""

    kind: Literal["transform"] = "transform"
    transform: str = Field(description="Name of a registered Python transform.")
    inputs: list[str]


FeatureDef = Annotated[ExprFeature | WindowFeature | TransformFeature, Field(discriminator="kind")]


class FeatureSpec(_Strict):
    """A feature: how it is computed, its type, owner and the range it must stay in."""

    definition: FeatureDef
    type: Literal["float", "int", "string"] = "float"
    owner: str = ""
    description: str = ""
    min: float | None = None
    max: float | None = None
    nullable: bool = True


class SplitSpec(_Strict):
    """Time-based split: the last ``holdout_days`` are holdout, the ``validation_days`` before
    them validation, everything earlier training."""

    validation_days: int = Field(default=7, ge=1)
    holdout_days: int = Field(default=7, ge=1)


class ModelSpec(_Strict):
    """The model: LightGBM parameters, the training window, the split and the decision
    threshold."""

    name: str
    seed: int = 42
    num_boost_round: int = Field(default=200, gt=0)
    early_stopping_rounds: int = Field(default=20, gt=0)
    params: dict[str, float | int | str | bool] = Field(default_factory=dict)
    threshold: float = Field(default=0.5, gt=0, lt=1)
    training_window_days: int = Field(
        default=60, gt=0, description="Days of labelled events a model trains on."
    )
    split: SplitSpec = SplitSpec()
    retrain_cooldown_days: int = Field(
        default=7,
        ge=0,
        description="A scheduled or manual retrain is declined when a model trained as of a "
        "date this close to its own exists (requests from drift have drift.cooldown_days).",
    )
    canary_share: float = Field(
        default=0.0,
        ge=0,
        le=0.5,
        description="While a challenger exists, this share of entities (by a stable hash of "
        "the entity key) is served the challenger's score; 0 = shadow scoring only.",
    )


class FeatureDriftPolicy(_Strict):
    """How one feature is monitored, where it differs from the dataset's defaults."""

    seasonal: Literal["weekly", "yearly"] | None = Field(
        default=None,
        description="Compare each night with the same weekday of the reference (weekly), or "
        "with the same day 52 weeks earlier (yearly), instead of the whole reference.",
    )
    psi_threshold: float | None = Field(default=None, gt=0)


class PredictionDriftPolicy(_Strict):
    """How the predicted probability is monitored, where it differs from the features'
    defaults."""

    monitored: bool = Field(
        default=True, description="Whether prediction drift alone breaches a window."
    )
    psi_threshold: float | None = Field(default=None, gt=0)


class DriftSpec(_Strict):
    """Drift monitoring: the window, the reference, per-feature policies, the breach rule and
    the loop guard."""

    psi_threshold: float = Field(default=0.2, gt=0)
    bins: int = Field(default=10, ge=2, le=100)
    max_drifted_share: float = Field(
        default=0.3, gt=0, le=1, description="Share of drifted features that breaches the window."
    )
    current_window_days: int = Field(
        default=7,
        ge=1,
        le=92,
        description="Nights, ending at the monitored date, that make the current window. A "
        "week holds every weekday once, so a weekly cycle cancels out.",
    )
    reference: Literal["training", "week_earlier", "year_earlier", "rolling"] = Field(
        default="training",
        description="What the window is compared with: the champion's training data, the "
        "same nights a week or 52 weeks earlier, or the accepted nights before the window.",
    )
    rolling_days: int = Field(
        default=28, ge=1, description="reference: rolling looks back this many nights."
    )
    exclude: list[str] = Field(default_factory=list, description="Features not monitored.")
    features: dict[str, FeatureDriftPolicy] = Field(default_factory=dict)
    prediction: PredictionDriftPolicy = Field(default_factory=PredictionDriftPolicy)
    report_sample_rows: int = Field(default=2000, gt=0)
    report_retention_days: int = Field(
        default=30,
        ge=1,
        description="HTML reports written more than this many days ago are deleted (their "
        "age on disk, not the age of the night they describe).",
    )
    report_retention_count: int | None = Field(
        default=None, ge=1, description="Keep at most this many reports per dataset (newest)."
    )
    breach_k: int = Field(default=2, ge=1, description="Breaching nights needed...")
    breach_n: int = Field(
        default=3, ge=1, description="...among the last n calendar nights, ending at the date."
    )
    cooldown_days: int = Field(
        default=7, ge=0, description="No retrain request this soon after one."
    )
    max_retrains_per_30_days: int = Field(default=4, ge=1)

    @model_validator(mode="after")
    def _k_of_n(self) -> DriftSpec:
        if self.breach_k > self.breach_n:
            raise ValueError(f"breach_k ({self.breach_k}) cannot exceed breach_n ({self.breach_n})")
        return self


class ValidationSpec(_Strict):
    """How many bad rows a batch may set aside before the whole batch is refused."""

    max_quarantine_share: float = Field(default=0.05, ge=0, le=1)


class AirflowSpec(_Strict):
    """How the dataset's DAGs run in an Airflow that serves several datasets."""

    score_schedule: str = Field(
        default="0 1 * * *", description="Cron of the nightly scoring run (UTC)."
    )
    retrain_schedule: str = Field(
        default="0 4 * * 0", description="Cron of the weekly retrain request (UTC)."
    )
    pool_slots: int = Field(
        default=4,
        ge=1,
        description="Task slots of the dataset's own pool: one dataset's backfill never takes "
        "another's slots.",
    )
    priority_weight: int = Field(
        default=10,
        ge=2,
        description="Priority of its nightly, asset-triggered and manual runs' tasks; a "
        "backfill's run at 1, so in the dataset's pool tonight's run goes first.",
    )
    tags: list[str] = Field(default_factory=list, description="More tags on its DAGs.")


class EmailTarget(_Strict):
    """Mail through an Airflow SMTP connection (the SMTP provider's notifier)."""

    to: list[str] = Field(min_length=1)
    from_email: str | None = Field(default=None, description="Default: the connection's.")
    smtp_conn_id: str = Field(default="smtp_default", pattern=r"^[A-Za-z0-9_.-]{1,250}$")


class WebhookTarget(_Strict):
    """A JSON POST with a Slack-compatible ``text`` field to the URL an Airflow connection
    holds (``airflow.notifications.webhook_url``), so the URL and its token live in
    Airflow's secrets, not in this file."""

    conn_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,250}$")


class NotificationRoute(_Strict):
    """Which events go to one place."""

    events: list[NoticeKind] = Field(min_length=1)
    email: EmailTarget | None = None
    webhook: WebhookTarget | None = None

    @model_validator(mode="after")
    def _one_target(self) -> NotificationRoute:
        if (self.email is None) == (self.webhook is None):
            raise ValueError("a notification route takes one of email or webhook")
        return self


class DatasetConfig(_Strict):
    """One use case, onboarded by one YAML file: sources, label, features, model, drift and
    validation."""

    name: str
    description: str = ""
    owner: str = ""
    lakefs_repository: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9-]{2,62}$",
        description="The dataset's own lakeFS repository; default NIGHTJAR_LAKEFS_REPOSITORY, "
        "shared, at paths no other dataset uses.",
    )
    airflow: AirflowSpec = Field(default_factory=AirflowSpec)
    entity_key: str
    event_time: str
    base_source: str = Field(description="The source whose rows are the entities to score.")
    timezone: str = Field(
        default="UTC",
        description="IANA time zone of the dataset's dates: the batch for a date holds that "
        "day's events there. Time-zone-aware timestamps are converted to its wall clock; "
        "naive ones are read as already in it.",
    )
    sources: dict[str, SourceTable]
    label: LabelSpec
    features: dict[str, FeatureSpec]
    categorical: list[str] = Field(default_factory=list)
    slices: list[str] = Field(default_factory=list)
    model: ModelSpec
    drift: DriftSpec = DriftSpec()
    validation: ValidationSpec = ValidationSpec()
    gate_policy: Path = Field(description="Gate policy file, relative to this config.")
    notifications: list[NotificationRoute] = Field(
        default_factory=list, description="Which events go where (none by default)."
    )

    @field_validator("name", "entity_key", "event_time")
    @classmethod
    def _identifier(cls, value: str) -> str:
        return _as_identifier(value)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as UTC or Europe/Paris"
            ) from None
        return value

    @field_validator("sources", "features")
    @classmethod
    def _identifier_keys(cls, value: dict) -> dict:
        for key in value:
            _as_identifier(key)
        return value

    @model_validator(mode="after")
    def _references_exist(self, info: ValidationInfo) -> DatasetConfig:
        functions = (info.context or {}).get("functions", True)
        problems = list(self._reference_problems(functions=functions))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _reference_problems(self, *, functions: bool = True):
        base = self.sources.get(self.base_source)
        if base is None:
            yield f"base_source {self.base_source!r} is not one of sources {sorted(self.sources)}"
            return
        if base.join_on or base.prefix:
            yield f"sources.{self.base_source}: the base source takes no join_on or prefix"
        for column in (self.entity_key, self.event_time):
            if column not in base.columns:
                yield f"column {column!r} does not exist in base source {self.base_source!r}"
        for name in {self.base_source, self.label.source} & set(self.sources):
            if not self.sources[name].required:
                yield f"sources.{name}: the base and label sources cannot be optional"
        label_source = self.sources.get(self.label.source)
        if label_source is None:
            yield f"label.source {self.label.source!r} is not one of sources {sorted(self.sources)}"
        else:
            for column in (self.label.column, self.label.available_at, self.entity_key):
                if column is not None and column not in label_source.columns:
                    yield f"label column {column!r} does not exist in source {self.label.source!r}"
        yield from self._join_problems()
        available = self.raw_columns()
        for name, feature in self.features.items():
            definition = feature.definition
            if isinstance(definition, ExprFeature):
                yield from _expression_problems(
                    f"features.{name}", definition.expr, available, functions=functions
                )
            elif isinstance(definition, WindowFeature):
                for column in (definition.column, *definition.partition_by):
                    if column not in available:
                        yield f"features.{name}: column {column!r} does not exist in any source"
            elif isinstance(definition, TransformFeature):
                for column in definition.inputs:
                    if column not in available:
                        yield f"features.{name}: input {column!r} does not exist in any source"
            if name == self.label.column:
                yield f"features.{name}: a feature may not be named after the label"
        for column in self.categorical:
            if column not in self.features:
                yield f"categorical column {column!r} is not a feature"
        for column in [*self.drift.exclude, *self.drift.features]:
            if column not in self.features:
                yield f"drift: {column!r} is not a feature"
        for column in self.slices:
            if column not in available and column not in self.features:
                yield f"slice column {column!r} does not exist in any source or feature"

    def _join_problems(self):
        """Each joined source's keys must exist on both sides of its join, in join order,
        and its other columns must not collide with a column already joined."""
        joined = set(self.sources[self.base_source].columns)
        for name, source in self.sources.items():
            if name in (self.base_source, self.label.source):
                continue
            if not source.join_on:
                yield f"sources.{name}: join_on is empty; list the keys it joins the base on"
            for left, right in source.join_on.items():
                if right not in source.columns:
                    yield f"sources.{name}.join_on: {right!r} is not one of its columns"
                if left not in joined:
                    yield (
                        f"sources.{name}.join_on: {left!r} is in none of the sources it joins "
                        f"({self.base_source!r} and those listed before it)"
                    )
            added = source.contributed_names()
            for column in sorted(added & joined):
                yield (
                    f"sources.{name}: column {column!r} is already joined from another source; "
                    f"set a prefix on {name!r} (e.g. prefix: {name}_)"
                )
            joined |= added

    def raw_columns(self) -> set[str]:
        """Columns available to features: every source's columns as joined (prefixed,
        keys under the base's names), except the label source's."""
        columns: set[str] = set()
        for name, source in self.sources.items():
            if name == self.label.source:
                continue
            columns |= set(source.joined_names().values())
        return columns

    @property
    def feature_names(self) -> list[str]:
        """The features in the order the model sees them."""
        return list(self.features)

    @property
    def history_days(self) -> int:
        """Days of history before a batch that window features need."""
        windows = [
            f.definition.range_days
            for f in self.features.values()
            if isinstance(f.definition, WindowFeature)
        ]
        return max(windows, default=0)

    def table_name(self, kind: str) -> str:
        """Name of one of this dataset's Delta tables, e.g. ``features_credit_default``."""
        return f"{kind}_{self.name}"

    @property
    def quarantine_table(self) -> str:
        """The one table of raw rows the rules set aside, for every source: a ``source``
        column says whose, ``rule`` and ``reason`` say why, ``row`` holds the row as JSON."""
        return self.table_name("quarantine")

    def drift_threshold(self, column: str) -> float:
        """The PSI above which ``column`` (a feature, or ``probability``) drifted."""
        policy = (
            self.drift.prediction if column == "probability" else self.drift.features.get(column)
        )
        override = policy.psi_threshold if policy else None
        return override if override is not None else self.drift.psi_threshold

    @property
    def monitored_features(self) -> list[str]:
        """The features drift monitoring measures (all but ``drift.exclude``)."""
        return [name for name in self.features if name not in self.drift.exclude]


def expression_columns(expression: str) -> set[str]:
    """The columns a Spark SQL expression reads (sqlglot; raises its ParseError)."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(expression, read="spark")
    lambda_arguments = {
        argument.name for function in tree.find_all(exp.Lambda) for argument in function.expressions
    }
    used = {column.table or column.name for column in tree.find_all(exp.Column)}
    return used - lambda_arguments


def unknown_functions(expression: str) -> set[str]:
    """Functions an expression calls that Spark does not have.

    sqlglot knows most Spark functions by their own classes and parses any other name as
    ``Anonymous``; only those are looked up, in ``pyspark.sql.functions`` (imported only
    then: it costs about 0.3 s), so ``lg(x)`` fails at load rather than in Spark.
    """
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(expression, read="spark")
    called = {function.name.lower() for function in tree.find_all(exp.Anonymous)}
    if not called:
        return set()
    import pyspark.sql.functions as spark_functions

    return {name for name in called if not hasattr(spark_functions, name)}


def _expression_problems(
    field: str, expression: str, available: set[str], *, functions: bool = True
):
    """Check an expression's columns and functions against the declared columns and
    Spark's functions, so a typo fails when the config loads, not in Spark after retries."""
    import sqlglot

    try:
        used = expression_columns(expression)
    except sqlglot.errors.ParseError as error:
        reason = str(error).splitlines()[0]
        yield f"{field}: expr {expression!r} is not valid Spark SQL ({reason})"
        return
    for name in sorted(unknown_functions(expression) if functions else ()):
        yield f"{field}: expr {expression!r} calls {name}(), which Spark SQL does not have"
    for column in sorted(used - available):
        close = difflib.get_close_matches(column, available, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        yield f"{field}: expr {expression!r} uses column {column!r}, which no source declares{hint}"


def _as_identifier(value: str) -> str:
    try:
        return validate_identifier(value)
    except InvalidNameError as exc:
        raise ValueError(str(exc)) from exc


def _format_validation_error(path: Path, error: ValidationError) -> str:
    lines = [f"invalid dataset config {path}:"]
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  - {location}: {item['msg']}")
    return "\n".join(lines)


def read_yaml(path: Path):
    """A YAML file's content, through libyaml when PyYAML has it (a config loads in
    about 2 ms instead of 15: the DAG files read every config at each parse)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(), Loader=loader)  # noqa: S506 -- a safe loader


def load_dataset_config(
    path: str | Path, *, functions: bool = True, raw: object = None
) -> DatasetConfig:
    """Load and validate a dataset config; raise ConfigError naming each bad field.
    ``functions``: also check that every function an expression calls is Spark's, which
    imports PySpark (the DAG files skip it, parsing light). ``raw``: the file's content,
    when the caller read it already."""
    path = Path(path)
    if raw is None:
        if not path.is_file():
            raise ConfigError(f"dataset config not found: {path}")
        try:
            raw = read_yaml(path)
        except yaml.YAMLError as exc:
            raise ConfigError(f"dataset config {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"dataset config {path} must be a mapping at the top level")
    try:
        config = DatasetConfig.model_validate(raw, context={"functions": functions})
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(path, exc)) from None
    gate_policy = (path.parent / config.gate_policy).resolve()
    if not gate_policy.is_file():
        raise ConfigError(
            f"invalid dataset config {path}:\n  - gate_policy: {gate_policy} not found"
        )
    return config.model_copy(update={"gate_policy": gate_policy})
