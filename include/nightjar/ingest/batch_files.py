"""Reading a batch file a data engineer hands us: Parquet or CSV, nothing else."""

from __future__ import annotations

import datetime as dt
import fnmatch
import os
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


_DELIMITERS = (",", ";", "\t", "|")


def _read_csv(path: Path, source: SourceTable) -> pd.DataFrame:
    """A CSV read as text with the source's dialect, then parsed with the declared types:
    only an empty cell is null (pandas would read ``n/a``, ``NA`` or ``null`` in a number
    column as missing), and a value that does not parse as its column's type refuses the
    file. A header that splits into the declared columns on another delimiter is named."""
    dialect = source.csv
    _refuse_another_delimiter(path, source)
    try:
        text = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            sep=dialect.delimiter,
            quotechar=dialect.quote,
        )
    except (UnicodeDecodeError, pd.errors.ParserError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DataValidationError(f"{path}: not a readable CSV file ({reason})") from None
    frame = text.copy()
    problems = []
    for column, spec in source.columns.items():
        if column not in text:
            continue  # validation names a missing column as a schema break
        values = text[column]
        if dialect.decimal != "." and spec.type in ("float", "int"):
            values = values.str.replace(dialect.decimal, ".", regex=False)
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


def _refuse_another_delimiter(path: Path, source: SourceTable) -> None:
    """Refuse, naming the delimiter, a CSV whose header holds fewer declared columns split
    on the source's delimiter than on another one."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        header = handle.readline().strip()
    declared = set(source.columns)

    def found(delimiter: str) -> int:
        return len(
            {name.strip().strip(source.csv.quote) for name in header.split(delimiter)} & declared
        )

    configured = found(source.csv.delimiter)
    best = max(_DELIMITERS, key=found)
    if best != source.csv.delimiter and found(best) > max(configured, 1):
        shown = "\\t" if best == "\t" else best
        raise DataValidationError(
            f"{path}: looks {shown!r}-separated ({found(best)} of the declared columns in its "
            f"header, {configured} with {source.csv.delimiter!r}): set csv: {{delimiter: "
            f"'{shown}'}} on the source"
        )


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


def dated_files(
    folder: Path,
    *,
    pattern: str | None = None,
    first: dt.date | None = None,
    last: dt.date | None = None,
) -> dict[dt.date, list[Path]]:
    """The Parquet and CSV files under ``folder`` (symlinked folders followed), by the date
    their path names (``events-2025-06-01.csv``, ``date=2025-06-01/part-0.parquet``); a
    date's several files make one batch. ``pattern`` (a glob on the file's name, such as
    ``events*``) keeps one source's files out of a folder that holds several; ``first`` and
    ``last`` keep a range of dates. Refused, in one line and before anything is read: a
    file whose path names no date, or two; a pattern that matches nothing; and files of
    several kinds on one date without a pattern (an export's sources side by side)."""
    from nightjar.core.errors import InvalidNameError
    from nightjar.core.names import parse_date

    if not folder.is_dir():
        raise DataValidationError(f"{folder}: no such folder")
    by_date: dict[dt.date, list[Path]] = defaultdict(list)
    undated, tabular = [], 0
    for path in _files_under(folder):
        if path.suffix.lower() not in (".parquet", ".csv"):
            continue
        tabular += 1
        if pattern and not fnmatch.fnmatch(path.name, pattern):
            continue
        found = set(_ISO_DATE.findall(str(path.relative_to(folder))))
        try:
            (day,) = {parse_date(text) for text in found}
        except (ValueError, InvalidNameError):
            undated.append(path.relative_to(folder))
            continue
        if (first and day < first) or (last and day > last):
            continue
        by_date[day].append(path)
    if undated:
        names = ", ".join(str(p) for p in undated[:5])
        raise DataValidationError(
            f"{folder}: {len(undated)} file(s) whose path names no single YYYY-MM-DD date "
            f"(e.g. {names}); name each day's files after the day"
        )
    if not by_date:
        if pattern and tabular:
            raise DataValidationError(
                f"{folder}: none of its {tabular} .parquet/.csv files is named like "
                f"{pattern!r}{_range_words(first, last)}"
            )
        raise DataValidationError(f"{folder}: no .parquet or .csv files{_range_words(first, last)}")
    if pattern is None:
        _refuse_several_kinds(folder, by_date)
    return dict(sorted(by_date.items()))


def _files_under(folder: Path) -> list[Path]:
    """Every file under ``folder``, symlinked folders followed (each real folder once)."""
    seen, found = set(), []
    for root, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        found.extend(Path(root) / name for name in sorted(files))
    return found


_COUNTER = re.compile(r"\d+")


def _kind(path: Path) -> str:
    """A file's name with its date and counters masked: ``part-0001.parquet`` and
    ``part-0002.parquet`` are one kind, ``events.parquet`` and ``labels.parquet`` two."""
    return _COUNTER.sub("#", _ISO_DATE.sub("DATE", path.name.lower()))


def _refuse_several_kinds(folder: Path, by_date: dict[dt.date, list[Path]]) -> None:
    for day, paths in by_date.items():
        kinds = sorted({_kind(path) for path in paths})
        if len(kinds) > 1:
            names = ", ".join(sorted({p.name for p in paths})[:4])
            raise DataValidationError(
                f"{folder}: {day} holds files of {len(kinds)} kinds ({names}): an export of "
                "several sources? Set `files:` on the source (e.g. files: 'events*') or pass "
                "--pattern; nothing was read"
            )


def _range_words(first: dt.date | None, last: dt.date | None) -> str:
    if not (first or last):
        return ""
    return f" dated {first or '...'}..{last or '...'}"


def read_batch_files(paths: list[Path], source: SourceTable) -> pd.DataFrame:
    """One day's files as one frame."""
    frames = [read_batch_file(path, source) for path in paths]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
