"""Raw-batch validation on Spark's executors, for raw tables Spark reads itself (``s3a``).

The rules are the pandas path's (``validation.py``), from the same dataset config, as
Spark column expressions:

- a schema break (a missing or undeclared column, a type outside the declared one's
  family) fails the batch before any row is read;
- each row-level rule a row breaks (range, nullability, category, uniqueness of the
  declared key, event time after the batch date) is recorded with the row, under the
  pandas path's rule names (``<column>:<check>``, or the whole-row check) and a reason
  naming the value;
- the batch fails when the share of rows set aside passes
  ``validation.max_quarantine_share``, with the count and examples per column and rule.

Only counts and a few example values reach the driver; the valid and the set-aside rows
stay on the executors, for the feature job and the quarantine table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from nightjar.core.dataset_config import ColumnSpec, SourceTable
from nightjar.core.errors import DataValidationError
from nightjar.ingest.validation import EVENT_TIME_RULE, PARTITION_COLUMN, UNIQUENESS_RULE

_BROKEN = "_nightjar_broken_rules"
_EXAMPLES = 3


@dataclass(frozen=True)
class SparkValidatedBatch:
    """A batch split on the executors: the rows that pass, and the rows set aside."""

    valid: object  # pyspark DataFrame: the declared columns and PARTITION_COLUMN
    quarantined: object  # pyspark DataFrame: source, partition_date, rule, reason, row
    rows: int
    quarantined_rows: int
    cached: object  # the ruled rows both frames read, cached on the executors

    def release(self) -> None:
        """Free the executors' cached rows once the feature job has written."""
        self.cached.unpersist()


def _family(spec_type: str) -> tuple[str, ...]:
    """The Spark types a declared type accepts (by ``DataType.typeName()``); the pandas
    path accepts the same ones (ints where floats are declared, any date or time)."""
    integers = ("byte", "short", "integer", "long")
    return {
        "string": ("string",),
        "int": integers,
        "float": ("float", "double", *integers),
        "bool": ("boolean",),
        "timestamp": ("timestamp", "timestamp_ntz", "date"),
        "date": ("timestamp", "timestamp_ntz", "date"),
    }[spec_type]


def _schema_break(frame, name: str, source: SourceTable, batch: str) -> None:
    present = {field.name: field.dataType.typeName() for field in frame.schema.fields}
    present.pop(PARTITION_COLUMN, None)
    problems = []
    if missing := [c for c in source.columns if c not in present]:
        problems.append(f"  - missing column(s): {', '.join(map(repr, missing))}")
    if extra := [c for c in present if c not in source.columns]:
        problems.append(
            f"  - unexpected column(s) not in the config: {', '.join(map(repr, extra))}"
        )
    for column, spec in source.columns.items():
        if column in present and present[column] not in _family(spec.type):
            problems.append(
                f"  - column {column!r} has type {present[column]!r}, expected {spec.type}"
            )
    if problems:
        raise DataValidationError(
            f"{name} {batch}: schema break, the batch is refused:\n" + "\n".join(problems)
        )


def _normalised(frame, source: SourceTable, timezone: str):
    """The pandas path's representation, on Spark: instants become the dataset's wall
    clock (a timestamp read as UTC, like the rows Spark gets from pandas), dates become
    midnight, ints become doubles where floats are declared."""
    from pyspark.sql import functions as F

    types = {field.name: field.dataType.typeName() for field in frame.schema.fields}
    columns = []
    for column in frame.columns:
        spec = source.columns.get(column)
        value = F.col(column)
        if spec is not None and spec.type in ("timestamp", "date"):
            if types[column] == "timestamp":
                value = F.from_utc_timestamp(value, timezone)
            value = value.cast("timestamp")
        elif spec is not None and spec.type == "float":
            value = value.cast("double")
        columns.append(value.alias(column))
    return frame.select(*columns)


def _shown(column: str, spec: ColumnSpec):
    """A value as the reason shows it: strings quoted, null as None."""
    from pyspark.sql import functions as F

    text = F.col(column).cast("string")
    if spec.type == "string":
        text = F.concat(F.lit("'"), text, F.lit("'"))
    return F.coalesce(text, F.lit("None"))


def _broken_rules(frame, source: SourceTable, event_time: str | None):
    """An array per row of the rules it breaks: (column or null, check, shown value)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    def broken(failing, column: str | None, check: str, shown):
        rule = F.struct(
            F.lit(column).cast("string").alias("column"),
            F.lit(check).alias("check"),
            shown.alias("value"),
        )
        return F.when(failing, rule)

    rules = []
    if event_time is not None:
        next_day = F.date_add(F.col(PARTITION_COLUMN), 1).cast("timestamp")
        earliest = F.col(PARTITION_COLUMN).cast("timestamp") - F.expr(
            f"INTERVAL {int(source.late_events_hours)} HOURS"
        )
        rules.append(
            broken(
                (F.col(event_time) >= next_day) | (F.col(event_time) < earliest),
                None,
                EVENT_TIME_RULE,
                F.col(event_time).cast("string"),
            )
        )
    if source.unique:
        shown = F.to_json(F.struct(*source.unique))
        if source.duplicates in ("keep_first", "keep_last"):
            # File order, as the pandas path keeps it: ids grow with the file and the row.
            position = F.monotonically_increasing_id()
            order = position.asc() if source.duplicates == "keep_first" else position.desc()
            repeated = F.row_number().over(Window.partitionBy(*source.unique).orderBy(order)) > 1
        else:
            repeated = F.count(F.lit(1)).over(Window.partitionBy(*source.unique)) > 1
        rules.append(broken(repeated, None, UNIQUENESS_RULE, shown))
    for column, spec in sorted(source.columns.items()):
        shown = _shown(column, spec)
        value = F.col(column)
        if spec.allowed is not None:
            check = f"isin({list(spec.allowed)!r})"
            rules.append(broken(~value.isin(list(spec.allowed)), column, check, shown))
        if spec.min is not None:
            rules.append(
                broken(value < spec.min, column, f"greater_than_or_equal_to({spec.min})", shown)
            )
        if spec.max is not None:
            rules.append(
                broken(value > spec.max, column, f"less_than_or_equal_to({spec.max})", shown)
            )
        if not spec.nullable:
            rules.append(broken(value.isNull(), column, "not_nullable", shown))
    if not rules:
        return frame.withColumn(
            _BROKEN, F.array().cast("array<struct<column:string,check:string,value:string>>")
        )
    return frame.withColumn(_BROKEN, F.filter(F.array(*rules), lambda rule: rule.isNotNull()))


def _quarantine_rows(frame, name: str, source: SourceTable):
    """The set-aside rows in the quarantine table's shape, as the pandas path writes it."""
    from pyspark.sql import functions as F

    def rule_name(rule):
        return F.when(rule["column"].isNull(), rule["check"]).otherwise(
            F.concat(rule["column"], F.lit(":"), rule["check"])
        )

    def reason(rule):
        return F.when(
            rule["column"].isNull(), F.concat(F.lit("row breaks "), rule["check"])
        ).otherwise(
            F.concat(rule["column"], F.lit(" = "), rule["value"], F.lit(" breaks "), rule["check"])
        )

    return frame.where(F.size(_BROKEN) > 0).select(
        F.lit(name).alias("source"),
        F.col(PARTITION_COLUMN).alias("partition_date"),
        F.array_join(F.transform(_BROKEN, rule_name), "; ").alias("rule"),
        F.array_join(F.transform(_BROKEN, reason), "; ").alias("reason"),
        F.to_json(F.struct(*sorted(source.columns))).alias("row"),
    )


def _describe(frame, event_time: str | None, source: SourceTable) -> str:
    """Count and examples per column and rule, the pandas path's message lines."""
    from pyspark.sql import functions as F

    about = {EVENT_TIME_RULE: event_time or "", UNIQUENESS_RULE: ", ".join(source.unique)}
    exploded = frame.select(F.explode(_BROKEN).alias("rule")).select("rule.*")
    groups = (
        exploded.groupBy("column", "check")
        .agg(
            F.count(F.lit(1)).alias("failing"),
            F.slice(F.collect_list("value"), 1, _EXAMPLES).alias("examples"),
        )
        .orderBy("column", "check")
        .collect()
    )
    lines = [
        f"  - column {(group['column'] or about.get(group['check'], ''))!r}, rule "
        f"{group['check']}: {group['failing']} failing (e.g. {', '.join(group['examples'])})"
        for group in groups
    ]
    return "\n".join(lines)


def validate_raw_on_spark(
    frame,
    *,
    name: str,
    source: SourceTable,
    event_time: str | None,
    max_quarantine_share: float,
    batch: str,
    timezone: str = "UTC",
) -> SparkValidatedBatch:
    """Validate one raw batch (a Spark frame with ``PARTITION_COLUMN``) on the executors;
    raise DataValidationError, or return the valid and the set-aside rows (cached: the
    feature job and the quarantine write both read them; the caller unpersists)."""
    from pyspark.sql import functions as F

    if source.ignore_extra:
        frame = frame.select(
            *[c for c in frame.columns if c in source.columns or c == PARTITION_COLUMN]
        )
    _schema_break(frame, name, source, batch)
    ruled = _broken_rules(_normalised(frame, source, timezone), source, event_time).cache()
    counts = ruled.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count(F.when(F.size(_BROKEN) > 0, True)).alias("broken"),
    ).first()
    rows, broken = int(counts["rows"]), int(counts["broken"])
    if rows == 0:
        ruled.unpersist()
        raise DataValidationError(f"{name} {batch}: empty batch (0 rows)")
    if source.duplicates == "refuse" and source.unique:
        repeated = ruled.where(
            F.exists(_BROKEN, lambda rule: rule["check"] == UNIQUENESS_RULE)
        ).count()
        if repeated:
            ruled.unpersist()
            raise DataValidationError(
                f"{name} {batch}: {repeated} rows repeat a key of {source.unique} "
                "(duplicates: refuse); nothing was written"
            )
    if broken / rows > max_quarantine_share:
        details = _describe(ruled, event_time, source)
        ruled.unpersist()
        raise DataValidationError(
            f"{name} {batch}: {broken} of {rows} rows ({broken / rows:.1%}) break row rules, "
            f"above the {max_quarantine_share:.1%} threshold; nothing was written:\n{details}"
        )
    return SparkValidatedBatch(
        valid=ruled.where(F.size(_BROKEN) == 0).drop(_BROKEN),
        quarantined=_quarantine_rows(ruled, name, source),
        rows=rows,
        quarantined_rows=broken,
        cached=ruled,
    )


def newest_event(frame, event_time: str, day: dt.date):
    """The newest ``event_time`` among ``frame``'s rows of partition ``day`` (None if none),
    for ``validation.check_newest_event``: one aggregate, one value to the driver."""
    from pyspark.sql import functions as F

    return (
        frame.where(F.col(PARTITION_COLUMN) == F.lit(day))
        .agg(F.max(event_time).alias("newest"))
        .first()["newest"]
    )
