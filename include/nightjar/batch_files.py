"""Reading a batch file a data engineer hands us: Parquet or CSV, nothing else."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nightjar.dataset_config import SourceTable
from nightjar.validation import DataValidationError

_PARQUET_MAGIC = b"PAR1"


def read_batch_file(path: Path, source: SourceTable) -> pd.DataFrame:
    """A DataFrame from a Parquet or CSV file; anything else is refused by its content."""
    if not path.is_file():
        raise DataValidationError(f"{path}: no such file")
    with path.open("rb") as handle:
        head = handle.read(4)
    if head == _PARQUET_MAGIC:
        return pd.read_parquet(path)
    if path.suffix.lower() == ".csv":
        return _read_csv(path, source)
    raise DataValidationError(
        f"{path}: not a Parquet file (no PAR1 magic bytes) and not a .csv file; "
        "Nightjar ingests Parquet or CSV only"
    )


def _read_csv(path: Path, source: SourceTable) -> pd.DataFrame:
    """A CSV read as text, then parsed with the declared types: only an empty cell is null
    (pandas would read ``n/a``, ``NA`` or ``null`` in a number column as missing), and a
    value that does not parse as its column's type refuses the file."""
    try:
        text = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (UnicodeDecodeError, pd.errors.ParserError, ValueError) as exc:
        raise DataValidationError(f"{path}: not a readable CSV file: {exc}") from None
    frame = text.copy()
    problems = []
    for column, spec in source.columns.items():
        if column not in text:
            continue  # validation names a missing column as a schema break
        values = text[column]
        parsed = _PARSERS[spec.type](values)
        unparsed = values.notna() & parsed.isna()
        if unparsed.any():
            examples = ", ".join(repr(v) for v in values[unparsed].unique()[:3])
            problems.append(
                f"  - column {column!r}: {int(unparsed.sum())} value(s) are not "
                f"{_TYPE_NAMES[spec.type]} (e.g. {examples})"
            )
        frame[column] = _narrow_ints(parsed) if spec.type == "int" else parsed
    if problems:
        raise DataValidationError(
            f"{path}: values that do not parse as their declared type; nothing was "
            "ingested:\n" + "\n".join(problems)
        )
    return frame


def _parse_int(values: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    return numbers.where(numbers.isna() | (numbers % 1 == 0))


def _narrow_ints(numbers: pd.Series) -> pd.Series:
    """int64 where no cell is empty; otherwise floats, and validation names the nulls."""
    return numbers.astype("int64") if numbers.notna().all() else numbers


_PARSERS = {
    "string": lambda values: values.astype("string"),
    "int": _parse_int,
    "float": lambda values: pd.to_numeric(values, errors="coerce").astype("float64"),
    "bool": lambda values: values.str.lower().map(
        {"true": True, "false": False, "1": True, "0": False}
    ),
    "timestamp": lambda values: pd.to_datetime(values, errors="coerce", format="ISO8601"),
    "date": lambda values: pd.to_datetime(values, errors="coerce", format="ISO8601"),
}
_TYPE_NAMES = {
    "string": "text",
    "int": "whole numbers",
    "float": "numbers",
    "bool": "true/false",
    "timestamp": "ISO 8601 timestamps",
    "date": "ISO 8601 dates",
}
