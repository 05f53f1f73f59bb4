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
        timestamps = [c for c, spec in source.columns.items() if spec.type in ("timestamp", "date")]
        try:
            frame = pd.read_csv(path, parse_dates=timestamps)
        except (UnicodeDecodeError, pd.errors.ParserError, ValueError) as exc:
            raise DataValidationError(f"{path}: not a readable CSV file: {exc}") from None
        return frame
    raise DataValidationError(
        f"{path}: not a Parquet file (no PAR1 magic bytes) and not a .csv file; "
        "Nightjar ingests Parquet or CSV only"
    )
