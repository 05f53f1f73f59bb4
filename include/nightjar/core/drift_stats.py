"""The drift statistics, with no I/O: bins, per-night counts, window comparison, PSI.

Every statistic is a count of rows per bin. The bins are fixed by the champion's training
data (quantile edges for a numeric column, the categories for a categorical one, and a
last bin for missing or unseen values), so counts add up: a window of nights, or a
reference span, is the sum of its nights' counts, and widening a window rescans nothing.

A window is compared with its reference column by column. Each night of the window is
matched with reference days (all of them; or, for a seasonal column, the same weekday, or
the same day 52 weeks earlier), and the expected shares are the mixture of those matches
weighted by the nights' rows. A night on which a column has no values at all (say, an
optional source missed the day) is a data-quality event, not drift: it is left out of
that column's window and reported. Nothing here raises on a column's shape: empty,
all-null, constant and extreme columns all give a finite PSI or a status that says why
there is none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

EPSILON = 1e-4  # floor for empty bins, so PSI stays finite
SEASON_SHIFT = {"weekly": dt.timedelta(days=7), "yearly": dt.timedelta(days=364)}
"""How far back the matching period lies: 364 days is 52 weeks, so the weekday matches too."""

DayCounts = Mapping[dt.date, np.ndarray]
NightCounts = dict[dt.date, dict[str, np.ndarray]]
"""Rows per bin, by night (or reference day), then by column."""
Status = Literal["measured", "no_values", "no_reference"]


@dataclass(frozen=True)
class ColumnBins:
    """One column's bins: quantile edges of the reference, or its categories and a bin for
    unseen ones. Either way the last bin holds the missing values, and only them."""

    kind: Literal["numeric", "categorical"]
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """Number of bins, the unseen and missing bins included."""
        return (len(self.edges) if self.kind == "numeric" else len(self.categories)) + 2

    def count(self, values: pd.Series) -> np.ndarray:
        """Rows per bin."""
        if self.kind == "categorical":
            text = values.astype("string")
            seen = text.value_counts(dropna=True)
            known = [float(seen.get(category, 0)) for category in self.categories]
            missing = float(text.isna().sum())
            return np.array([*known, float(len(values)) - sum(known) - missing, missing])
        array = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        missing = np.isnan(array)
        counts = np.bincount(
            np.searchsorted(self.edges, array[~missing], side="right"),
            minlength=len(self.edges) + 1,
        ).astype(float)
        return np.append(counts, float(missing.sum()))

    def as_dict(self) -> dict:
        """JSON-ready form, to store with the model's drift reference."""
        return {"kind": self.kind, "edges": list(self.edges), "categories": list(self.categories)}

    @classmethod
    def from_dict(cls, data: Mapping) -> ColumnBins:
        """The bins ``as_dict`` stored."""
        return cls(data["kind"], tuple(data["edges"]), tuple(data["categories"]))


def fit_bins(values: pd.Series, *, categorical: bool, bins: int) -> ColumnBins:
    """Bins from the reference values: its categories, or ``bins`` quantile bins (fewer
    when values repeat; a constant or empty column gets one edge or none)."""
    if categorical:
        return ColumnBins(
            "categorical", categories=tuple(sorted(values.dropna().astype(str).unique()))
        )
    clean = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    clean = clean[np.isfinite(clean)]
    if not len(clean):
        return ColumnBins("numeric")
    quantiles = np.quantile(clean, np.linspace(0, 1, bins + 1)[1:-1])
    return ColumnBins("numeric", edges=tuple(float(e) for e in np.unique(quantiles)))


def shares(counts: np.ndarray) -> np.ndarray:
    """Counts as shares of their total (all zero when there are no rows)."""
    total = float(np.sum(counts))
    return np.asarray(counts, float) / total if total > 0 else np.zeros(len(counts))


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population Stability Index between two share vectors (empty bins floored)."""
    e = np.clip(np.asarray(expected, float), EPSILON, None)
    a = np.clip(np.asarray(actual, float), EPSILON, None)
    return float(np.sum((a - e) * np.log(a / e)))


def has_values(counts: np.ndarray) -> bool:
    """Whether a night has any non-missing value (the missing bin is last)."""
    return bool(np.sum(counts[:-1]) > 0)


Matcher = Callable[[dt.date], list[dt.date] | None]
"""For a night of the window, the reference days to compare it with (None: all of them)."""


def matcher(seasonal: str | None, reference_days: set[dt.date]) -> Matcher:
    """How a column's nights are matched with reference days: all of them; or, when
    ``seasonal`` is ``weekly``, those on the same weekday; or, when ``yearly``, the day
    52 weeks earlier."""
    if seasonal == "weekly":
        by_weekday: dict[int, list[dt.date]] = {}
        for day in reference_days:
            by_weekday.setdefault(day.weekday(), []).append(day)
        return lambda night: by_weekday.get(night.weekday(), [])
    if seasonal == "yearly":
        return lambda night: [night - SEASON_SHIFT["yearly"]]
    return lambda night: None


@dataclass(frozen=True)
class Comparison:
    """One column of a window against its reference."""

    status: Status
    psi: float | None
    nights: int  # nights of the window that were compared
    null_nights: list[dt.date]  # nights with no value at all: data quality, not drift
    unmatched_nights: list[dt.date]  # nights with no matching reference day
    rows: int
    reference_days: int


def compare(current: DayCounts, reference: DayCounts, match: Matcher) -> Comparison:
    """Compare a column's window (counts per night) with its reference (counts per day).

    Expected shares are the mixture, over the window's nights weighted by their rows, of
    the shares of each night's matching reference days. A night with no values at all, or
    with no matching reference day, is left out and named.
    """
    reference = {day: counts for day, counts in reference.items() if np.sum(counts) > 0}
    if not any(has_values(counts) for counts in reference.values()):
        # The reference itself never had a value: only missingness can be compared.
        null_nights = []
        usable = {night: counts for night, counts in current.items() if np.sum(counts) > 0}
    else:
        # A day without a single value, on either side, is a feed that missed the day.
        reference = {day: counts for day, counts in reference.items() if has_values(counts)}
        null_nights = sorted(n for n, c in current.items() if np.sum(c) > 0 and not has_values(c))
        usable = {n: c for n, c in current.items() if has_values(c)}
    unmatched, expected, actual, rows, matched_days = [], None, None, 0, set()
    for night in sorted(usable):
        wanted = match(night)
        days = list(reference) if wanted is None else [d for d in wanted if d in reference]
        if not days:
            unmatched.append(night)
            continue
        matched_days.update(days)
        weight = float(np.sum(usable[night]))
        mixture = shares(np.sum([reference[d] for d in days], axis=0)) * weight
        expected = mixture if expected is None else expected + mixture
        actual = usable[night] if actual is None else actual + usable[night]
        rows += int(weight)
    nights = len(usable) - len(unmatched)
    if not usable:
        return Comparison("no_values", None, 0, null_nights, [], 0, len(reference))
    if expected is None:
        return Comparison("no_reference", None, 0, null_nights, unmatched, 0, 0)
    value = psi(shares(expected), shares(actual))
    return Comparison("measured", value, nights, null_nights, unmatched, rows, len(matched_days))
