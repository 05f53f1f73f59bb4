"""pandera validation of raw batches and feature tables, with quarantine.

Raw batches are validated with pandera's pandas backend as they are read from lakeFS;
the features with the pandas backend too where they are collected for a delta-rs write,
and with pandera's pyspark backend where Spark writes them. Rules come from the
dataset config. A schema break (missing or extra column, wrong type) always fails the
batch. Rows breaking a row-level rule (range, nullability, category, uniqueness, an
event time off the batch's date) are set aside for the quarantine table, each with the
rule and the reason; the batch fails when their share passes the configured threshold,
with a message that names the column, the rule and the count.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa
import pyarrow
from pandera.errors import SchemaErrors

from nightjar.core.dataset_config import ColumnSpec, DatasetConfig, SourceTable
from nightjar.core.errors import DataValidationError
from nightjar.io.raw_tables import PARTITION_DATE_COLUMN

PARTITION_COLUMN = PARTITION_DATE_COLUMN
RAW_DTYPES = {
    "string": "string",
    "int": "int64",
    "float": "float64",
    "bool": "bool",
    "timestamp": "datetime64[ns]",
    "date": "datetime64[ns]",
}
_SCHEMA_LEVEL_CHECKS = ("column_in_dataframe", "column_in_schema", "dtype(")
EVENT_TIME_RULE = "event_time_on_batch_date"
UNIQUENESS_RULE = "multiple_fields_uniqueness"  # pandera's name for DataFrameSchema(unique=)
_KEEPS = {"keep_first": "exclude_first", "keep_last": "exclude_last"}


@dataclass(frozen=True)
class ValidatedBatch:
    """A batch split into the rows that pass the rules and the rows set aside, with why."""

    valid: pd.DataFrame
    quarantined: pd.DataFrame  # original columns as JSON, plus source, rule and reason

    @property
    def quarantine_share(self) -> float:
        """The share of the batch's rows set aside."""
        total = len(self.valid) + len(self.quarantined)
        return len(self.quarantined) / total if total else 0.0

    def rows_per_rule(self) -> dict[str, int]:
        """How many set-aside rows break each rule (a row can break several)."""
        rules = self.quarantined["rule"].str.split("; ").explode()
        return {str(rule): int(count) for rule, count in rules.value_counts().sort_index().items()}


def _range_checks(low: float | None, high: float | None, check=pa.Check) -> list:
    """``low <= value <= high`` as pandera checks (``check`` picks the backend)."""
    checks = []
    if low is not None:
        checks.append(check.ge(low))
    if high is not None:
        checks.append(check.le(high))
    return checks


def _column_checks(spec: ColumnSpec) -> list[pa.Check]:
    checks = _range_checks(spec.min, spec.max)
    if spec.allowed is not None:
        checks.append(pa.Check.isin(spec.allowed))
    return checks


def on_batch_date(events: pd.Series, batch_dates: pd.Series, late_hours: int) -> pd.Series:
    """Whether each event falls on its batch's date (in the dataset's zone, as normalised),
    or at most ``late_hours`` before it."""
    day = pd.to_datetime(batch_dates)
    return (events >= day - pd.Timedelta(hours=late_hours)) & (events < day + pd.Timedelta(days=1))


def raw_schema(name: str, source: SourceTable, event_time: str | None) -> pa.DataFrameSchema:
    """The pandera schema of a raw source, from its column rules in the dataset config."""
    columns = {
        column: pa.Column(
            RAW_DTYPES[spec.type], checks=_column_checks(spec), nullable=spec.nullable
        )
        for column, spec in source.columns.items()
    }
    columns[PARTITION_COLUMN] = pa.Column(nullable=False)
    checks = []
    if event_time is not None:
        late = source.late_events_hours
        checks.append(
            pa.Check(
                lambda df: on_batch_date(df[event_time], df[PARTITION_COLUMN], late),
                name=EVENT_TIME_RULE,
            )
        )
    return pa.DataFrameSchema(
        columns,
        checks=checks,
        strict=True,
        unique=source.unique or None,
        report_duplicates=_KEEPS.get(source.duplicates, "all"),
        name=name,
    )


def normalise_types(frame: pd.DataFrame, source: SourceTable, timezone: str) -> pd.DataFrame:
    """Align representation, not meaning: time-zone-aware instants to the dataset's wall
    clock, any datetime unit to ns, Parquet dates to datetimes, ints where floats are
    declared, text columns to pandas strings. A wrong type still fails."""
    frame = frame.copy()
    for column, spec in source.columns.items():
        if column not in frame:
            continue
        series = frame[column]
        if spec.type in ("timestamp", "date") and pd.api.types.is_datetime64_any_dtype(series):
            if isinstance(series.dtype, pd.DatetimeTZDtype):
                # One time-zone policy: a batch's date is a day in the dataset's zone, so
                # an aware instant becomes that zone's wall clock; naive ones already are.
                series = series.dt.tz_convert(timezone).dt.tz_localize(None)
            frame[column] = series.astype("datetime64[ns]")
        elif spec.type == "date" and pd.api.types.is_object_dtype(series):
            if series.map(lambda v: v is None or isinstance(v, dt.date)).all():
                frame[column] = pd.to_datetime(series)
        elif spec.type == "float" and pd.api.types.is_integer_dtype(series):
            frame[column] = series.astype("float64")
        elif spec.type == "string" and pd.api.types.is_object_dtype(series):
            if series.map(lambda v: v is None or isinstance(v, str)).all():
                frame[column] = series.astype("string")
        elif spec.type == "string" and pd.api.types.is_string_dtype(series):
            frame[column] = series.astype("string")
    return frame


def _on_their_columns(cases: pd.DataFrame, row_rule_columns: dict[str, str]) -> pd.DataFrame:
    """pandera reports a failing whole-row rule once per column of the row; keep only the
    column each rule is about, so a message names that column and no unrelated values."""
    whole_row = (cases["schema_context"] == "DataFrameSchema") & cases["index"].notna()
    about = cases["check"].astype(str).map(row_rule_columns)
    return cases[~whole_row | about.isna() | (cases["column"] == about)]


def _describe(cases: pd.DataFrame, limit: int = 8) -> str:
    lines = []
    grouped = cases.groupby(["column", "check"], dropna=False, sort=True)
    for (column, check), group in list(grouped)[:limit]:
        check = str(check)
        cases_text = ", ".join(repr(v) for v in group["failure_case"].head(3))
        if check == "column_in_dataframe":
            lines.append(f"  - missing column(s): {cases_text}")
        elif check == "column_in_schema":
            lines.append(f"  - unexpected column(s) not in the config: {cases_text}")
        elif check.startswith("dtype("):
            lines.append(f"  - column {column!r} has type {cases_text}, expected {check[6:-1]}")
        else:
            lines.append(
                f"  - column {column!r}, rule {check}: {len(group)} failing (e.g. {cases_text})"
            )
    if len(grouped) > limit:
        lines.append(f"  - ... and {len(grouped) - limit} more rule(s)")
    return "\n".join(lines)


def validate_raw(
    frame: pd.DataFrame,
    *,
    name: str,
    source: SourceTable,
    event_time: str | None,
    max_quarantine_share: float,
    batch: str,
    timezone: str = "UTC",
) -> ValidatedBatch:
    """Validate one raw batch; raise DataValidationError or return valid and quarantined rows.

    ``timezone`` is the dataset's (``DatasetConfig.timezone``): aware timestamps are
    converted to its wall clock before any rule sees them."""
    if frame.empty:
        raise DataValidationError(f"{name} {batch}: empty batch (0 rows)")
    if source.ignore_extra:
        declared = [c for c in frame.columns if c in source.columns or c == PARTITION_COLUMN]
        frame = frame[declared]
    frame = normalise_types(frame.reset_index(drop=True), source, timezone)
    try:
        raw_schema(name, source, event_time).validate(frame, lazy=True)
        return ValidatedBatch(
            valid=frame, quarantined=_quarantine_rows(frame, name, pd.DataFrame())
        )
    except SchemaErrors as errors:
        cases = errors.failure_cases
    schema_break = cases[cases["check"].astype(str).str.startswith(_SCHEMA_LEVEL_CHECKS)]
    if not schema_break.empty:
        # What follows from the break (a rule on a missing column erring) is not news.
        raise DataValidationError(
            f"{name} {batch}: schema break, the batch is refused:\n{_describe(schema_break)}"
            + _delimiter_hint(schema_break, source)
        ) from None
    erred = cases[cases["index"].isna()]
    if not erred.empty:  # a rule that could not run on these values: say which, not why
        rules = ", ".join(
            sorted({f"{c} {k}" for c, k in zip(erred["column"], erred["check"], strict=True)})
        )
        raise DataValidationError(
            f"{name} {batch}: values the rules cannot check ({rules}); nothing was written"
        ) from None
    bad_rows = cases.dropna(subset=["index"])
    duplicated = bad_rows["check"].astype(str) == UNIQUENESS_RULE
    if source.duplicates == "refuse" and duplicated.any():
        repeated = bad_rows.loc[duplicated, "index"].nunique()
        raise DataValidationError(
            f"{name} {batch}: {repeated} rows repeat a key of {source.unique} "
            "(duplicates: refuse); nothing was written"
        )
    quarantined = _quarantine_rows(frame, name, bad_rows)
    valid = frame.drop(index=bad_rows["index"].astype(int).unique())
    result = ValidatedBatch(valid=valid.reset_index(drop=True), quarantined=quarantined)
    if result.quarantine_share > max_quarantine_share:
        raise DataValidationError(
            f"{name} {batch}: {len(quarantined)} of {len(frame)} rows "
            f"({result.quarantine_share:.1%}) break row rules, above the "
            f"{max_quarantine_share:.1%} threshold; nothing was written:\n"
            + _describe(_on_their_columns(bad_rows, {EVENT_TIME_RULE: event_time or ""}))
            + _event_dates(frame, bad_rows, event_time)
        )
    return result


def duplicates_note(source: SourceTable, quarantined: pd.DataFrame) -> str | None:
    """What the duplicate policy did to a batch, in words, or None when nothing repeated."""
    repeated = quarantined["rule"].str.contains(UNIQUENESS_RULE, regex=False).sum()
    if not repeated:
        return None
    done = {
        "set_aside_all": "every copy set aside, since which one is right is unknown",
        "keep_first": "the first copy of each kept, the later ones set aside",
        "keep_last": "the last copy of each kept, the earlier ones set aside",
    }[source.duplicates]
    return (
        f"{repeated} rows repeat a key of {source.unique}: {done} (duplicates: "
        f"{source.duplicates}; keep_first, keep_last or refuse change it)"
    )


def _event_dates(frame: pd.DataFrame, bad_rows: pd.DataFrame, event_time: str | None) -> str:
    """Where the events off the batch's date fall, for a batch that is mostly another day's."""
    off = bad_rows[bad_rows["check"].astype(str) == EVENT_TIME_RULE]["index"].astype(int).unique()
    if not event_time or len(off) == 0:
        return ""
    days = pd.to_datetime(frame.loc[off, event_time]).dt.date.value_counts().sort_index()
    listed = ", ".join(f"{day} ({count} rows)" for day, count in list(days.items())[:5])
    return f"\n  - its {event_time} values fall on {listed}: is it the file of another date?"


def _delimiter_hint(schema_break: pd.DataFrame, source: SourceTable) -> str:
    """For a CSV read with the wrong delimiter: its one column holds the others' names."""
    unexpected = schema_break[schema_break["check"].astype(str) == "column_in_schema"]
    for name in unexpected["failure_case"].astype(str):
        for delimiter in (";", "\t", "|", ","):
            if (
                delimiter != source.csv.delimiter
                and len(set(name.split(delimiter)) & set(source.columns)) > 1
            ):
                shown = {"\t": "\\t"}.get(delimiter, delimiter)
                return (
                    f"\n  - the file looks {shown!r}-separated: set csv: {{delimiter: "
                    f"'{shown}'}} on the source"
                )
    return ""


def _quarantine_rows(frame: pd.DataFrame, name: str, bad_rows: pd.DataFrame) -> pd.DataFrame:
    columns = ["source", "partition_date", "rule", "reason", "row"]
    if bad_rows.empty:
        return pd.DataFrame({c: pd.Series(dtype="string") for c in columns})
    records = []
    for index, group in bad_rows.groupby(bad_rows["index"].astype(int)):
        row = frame.loc[index]
        whole_row = group["schema_context"] == "DataFrameSchema"
        per_column = group[~whole_row]
        row_checks = sorted({str(k) for k in group.loc[whole_row, "check"]})
        rules = row_checks + sorted(
            {f"{c}:{k}" for c, k in zip(per_column["column"], per_column["check"], strict=True)}
        )
        reasons = [f"row breaks {check}" for check in row_checks] + [
            f"{column!s} = {case!r} breaks {check}"
            for column, check, case in zip(
                per_column["column"], per_column["check"], per_column["failure_case"], strict=True
            )
        ]
        records.append(
            {
                "source": name,
                "partition_date": str(row[PARTITION_COLUMN]),
                "rule": "; ".join(rules),
                "reason": "; ".join(reasons),
                "row": json.dumps(
                    row.drop(PARTITION_COLUMN).to_dict(), default=str, sort_keys=True
                ),
            }
        )
    return pd.DataFrame.from_records(records, columns=columns).astype("string")


def check_freshness(
    frame: pd.DataFrame,
    *,
    name: str,
    event_time: str,
    batch_date: dt.date,
    freshness_hours: int | None,
) -> None:
    """Fail a batch whose newest event is older than its freshness allowance."""
    if frame.empty:
        return
    check_newest_event(
        frame[event_time].max(),
        name=name,
        event_time=event_time,
        batch_date=batch_date,
        freshness_hours=freshness_hours,
    )


def check_newest_event(
    newest,
    *,
    name: str,
    event_time: str,
    batch_date: dt.date,
    freshness_hours: int | None,
) -> None:
    """Fail a batch whose newest event (None: no rows) is older than its allowance."""
    if freshness_hours is None or newest is None:
        return
    newest = pd.Timestamp(newest)
    deadline = pd.Timestamp(batch_date) + pd.Timedelta(days=1) - pd.Timedelta(hours=freshness_hours)
    if newest < deadline:
        raise DataValidationError(
            f"{name} {batch_date}: stale batch, newest {event_time} is {newest}, expected events "
            f"after {deadline} (freshness {freshness_hours} h)"
        )


def validate_features(config: DatasetConfig, features) -> None:
    """Check the features against the config's rules; raise, naming each rule, on any break.

    A pyarrow Table (the embedded path collects the frame for its delta-rs write anyway)
    goes through pandera's pandas backend in milliseconds, with a count per column and
    rule. A Spark frame (the cluster path, where collecting is not an option) goes through
    pandera's pyspark backend, which runs a Spark job per rule: seconds even for a small
    frame, so it is kept for the frames that need it.
    """
    if isinstance(features, pyarrow.Table):
        _validate_feature_table(config, features)
    else:
        _validate_spark_features(config, features)


def refuse_repeated_entities(config: DatasetConfig, repeated: int, rows: int) -> None:
    """One row per entity: more means a join matched several rows of a source."""
    if repeated:
        joined = [n for n, s in config.sources.items() if s.join_on and n != config.label.source]
        raise DataValidationError(
            f"{config.name}: {repeated} of {rows} feature rows repeat an entity "
            f"({config.entity_key}): a joined source ({', '.join(joined) or 'none'}) matches "
            "more than one row for some keys; make its join_on keys identify one row; "
            "nothing was written"
        )


def _validate_feature_table(config: DatasetConfig, table: pyarrow.Table) -> None:
    types = {"float": pyarrow.float64(), "int": pyarrow.int64(), "string": pyarrow.string()}
    columns = {
        name: pa.Column(
            pd.ArrowDtype(types[spec.type]),
            checks=_range_checks(spec.min, spec.max),
            nullable=spec.nullable,
        )
        for name, spec in config.features.items()
    }
    columns[config.entity_key] = pa.Column(pd.ArrowDtype(pyarrow.string()), nullable=False)
    schema = pa.DataFrameSchema(columns, name=f"{config.name} features")
    frame = table.to_pandas(types_mapper=pd.ArrowDtype)
    if config.entity_key in frame:
        repeated = int(frame[config.entity_key].duplicated().sum())
        refuse_repeated_entities(config, repeated, len(frame))
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as errors:
        raise DataValidationError(
            f"{config.name}: {table.num_rows} feature rows fail validation, nothing was "
            f"written:\n{_describe(errors.failure_cases)}"
        ) from None


def _validate_spark_features(config: DatasetConfig, features) -> None:
    import pandera.pyspark as ps
    import pyspark.sql.types as T

    types = {"float": T.DoubleType(), "int": T.LongType(), "string": T.StringType()}
    columns = {}
    for name, spec in config.features.items():
        checks = _range_checks(spec.min, spec.max, check=ps.Check)
        columns[name] = ps.Column(types[spec.type], checks=checks, nullable=spec.nullable)
    columns[config.entity_key] = ps.Column(T.StringType(), nullable=False)
    schema = ps.DataFrameSchema(columns, name=f"{config.name} features")
    validated = schema.validate(features)
    # pandera's pyspark backend reports which rules broke, not how many rows broke them.
    broken = sorted(
        f"  - column {error.get('column')!r}, rule {error.get('check')}: {error.get('error')}"
        for by_reason in validated.pandera.errors.values()
        for errors in by_reason.values()
        for error in errors
    )
    if broken:
        raise DataValidationError(
            f"{config.name}: feature table fails validation, nothing was written:\n"
            + "\n".join(broken)
        )
