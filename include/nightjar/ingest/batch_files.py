"""Reading a batch file a data engineer hands us: Parquet or CSV, nothing else."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from pathlib import Path

import pandas as pd

from nightjar.core.dataset_config import SourceTable
from nightjar.core.errors import DataValidationError

_PARQUET_MAGIC = b"PAR1"
_ISO_DATE = re.compile(r"(?<!\d)(\d{4}-\d{2}-\d{2})(?!\d)")


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


def dated_files(folder: Path) -> dict[dt.date, list[Path]]:
    """The Parquet and CSV files under ``folder``, by the date their path names
    (``events-2025-06-01.csv``, ``date=2025-06-01/part-0.parquet``); a date's several
    files make one batch. A file whose path names no date, or two dates, is refused."""
    from nightjar.core.errors import InvalidNameError
    from nightjar.core.names import parse_date

    if not folder.is_dir():
        raise DataValidationError(f"{folder}: no such folder")
    by_date: dict[dt.date, list[Path]] = defaultdict(list)
    undated = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in (".parquet", ".csv"):
            continue
        found = set(_ISO_DATE.findall(str(path.relative_to(folder))))
        try:
            (day,) = {parse_date(text) for text in found}
        except (ValueError, InvalidNameError):
            undated.append(path.relative_to(folder))
            continue
        by_date[day].append(path)
    if undated:
        names = ", ".join(str(p) for p in undated[:5])
        raise DataValidationError(
            f"{folder}: {len(undated)} file(s) whose path names no single YYYY-MM-DD date "
            f"(e.g. {names}); name each day's files after the day"
        )
    if not by_date:
        raise DataValidationError(f"{folder}: no .parquet or .csv files")
    return dict(sorted(by_date.items()))


def read_batch_files(paths: list[Path], source: SourceTable) -> pd.DataFrame:
    """One day's files as one frame."""
    frames = [read_batch_file(path, source) for path in paths]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
