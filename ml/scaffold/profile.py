"""A CSV's columns profiled chunk by chunk, and typed from the profile.

Memory stays bounded whatever the file's size: per column, counts, a numeric range and the
distinct values up to DISTINCT_CAP; per file, a uniform sample of SAMPLE_ROWS rows (the rows with
the smallest pseudo-random keys of their row numbers: the same sample on every run) for what
needs the values themselves (medians, most frequent values). Files of up to SAMPLE_ROWS rows are
profiled exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

NA_TOKENS = ("", "NA", "NaN")  # missing cells (ingest's reader takes these as null too)
LEADING_ZERO = r"^-?0\d"  # a code such as 02134: text, not the number 2134
SAMPLE_ROWS = 100_000
DISTINCT_CAP = 10_000  # distinct values counted per column; more reads as DISTINCT_CAP + 1


@dataclass
class ColumnProfile:
    """What one column's text cells hold, accumulated chunk by chunk."""

    name: str
    rows: int = 0
    nulls: int = 0  # cells in NA_TOKENS
    blanks: int = 0  # cells that are empty or only spaces
    numeric: bool = True  # every present cell is a number
    coded: bool = False  # some number-looking cell has a leading zero (a code)
    whole: bool = True  # every number is whole
    low: float = math.inf
    high: float = -math.inf
    values: set[str] | None = field(default_factory=set)  # None once past DISTINCT_CAP

    def add(self, cells: pd.Series, missing: pd.Series) -> None:
        """One chunk's cells of the column; `missing`: which of them are NA_TOKENS or absent."""
        present = cells[~missing].astype(str)
        self.rows += len(cells)
        self.nulls += int(missing.sum())
        self.blanks += int((cells.fillna("").astype(str).str.strip() == "").sum())
        if self.values is not None:
            self.values.update(present.unique())
            if len(self.values) > DISTINCT_CAP:
                self.values = None
        if not self.numeric or present.empty:
            return
        numbers = pd.to_numeric(present, errors="coerce")
        if numbers.isna().any():
            self.numeric = False
            return
        self.coded = self.coded or bool(present.str.match(LEADING_ZERO).any())
        self.whole = self.whole and bool((numbers % 1 == 0).all())
        self.low, self.high = min(self.low, float(numbers.min())), max(self.high, float(numbers.max()))

    @property
    def distinct(self) -> int:
        return len(self.values) if self.values is not None else DISTINCT_CAP + 1

    @property
    def is_number(self) -> bool:
        return self.numeric and self.rows > self.nulls and not self.coded


def sample_keys(first_row: int, rows: int) -> np.ndarray:
    """A fixed pseudo-random uint64 per row number (splitmix64): the sample's order."""
    x = np.arange(first_row, first_row + rows, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class Profile:
    """Every column's ColumnProfile and a uniform sample of whole rows (with `extra` arrays,
    e.g. parsed timestamps, kept beside the rows they belong to)."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = {c: ColumnProfile(c) for c in columns}
        self.rows = 0
        self.sample = pd.DataFrame(columns=columns, dtype=object)
        self._keys = np.empty(0, dtype=np.uint64)
        self._span_rows = pd.Series(dtype="int64")  # rows per span code
        self._span_nulls = pd.DataFrame(columns=columns, dtype="int64")  # missing cells per span code

    def add(self, frame: pd.DataFrame, spans: np.ndarray | None = None, **extra: np.ndarray) -> None:
        """One chunk: `spans` (each row's span code) counts missing cells per span too."""
        missing = frame.isna() | frame.isin(NA_TOKENS)
        for name, profile in self.columns.items():
            profile.add(frame[name], missing[name])
        if spans is not None:
            self._span_rows = self._span_rows.add(pd.Series(spans).value_counts(), fill_value=0)
            self._span_nulls = self._span_nulls.add(missing.groupby(spans).sum(), fill_value=0)
        part = frame.assign(**extra).reset_index(drop=True)
        sample = pd.concat([self.sample, part], ignore_index=True) if len(self.sample) else part
        keys = np.concatenate([self._keys, sample_keys(self.rows, len(frame))])
        if len(sample) > SAMPLE_ROWS:
            keep = np.sort(np.argpartition(keys, SAMPLE_ROWS)[:SAMPLE_ROWS])  # file order kept
            sample, keys = sample.iloc[keep].reset_index(drop=True), keys[keep]
        self.sample, self._keys = sample, keys
        self.rows += len(frame)

    def present(self, column: str) -> pd.Series:
        """The sample's present cells of `column`."""
        cells = self.sample[column]
        return cells[~(cells.isna() | cells.isin(NA_TOKENS))].astype(str)

    def worst_span_share(self, column: str) -> float:
        """The largest share of missing cells `column` has in any one span."""
        if self._span_rows.empty:
            seen = self.columns[column]
            return seen.nulls / seen.rows if seen.rows else 0.0
        return float((self._span_nulls[column] / self._span_rows).max())

    def median(self, column: str) -> float:
        return float(pd.to_numeric(self.present(column)).median())


@dataclass
class Column:
    name: str
    type: str  # string | int | float
    nulls: int
    distinct: int
    min: float | None = None
    max: float | None = None
    default: Any = None
    max_null_fraction: float | None = None


def null_limit(worst_span_share: float) -> float:
    """The missing share a later span may have: 10 points above the most any span of the CSV
    had (every span of the CSV passes; a column gone blank fails unless some span was already)."""
    return min(1.0, math.ceil((worst_span_share + 0.1) * 100) / 100)


def rounded(value: float) -> float | int:
    """`value` to four significant digits (an int when whole)."""
    if value == 0 or not math.isfinite(value):
        return 0
    digits = 3 - int(math.floor(math.log10(abs(value))))
    result = round(value, max(digits, 0))
    return int(result) if float(result).is_integer() else result


def infer_column(profile: Profile, name: str) -> Column:
    """The column's type (numbers that are all whole are `int`), range and default (median or
    most frequent value of the sample). Codes with leading zeros (`02134`) stay strings;
    `true`/`false` are strings (categories); `0`/`1` are ints."""
    seen = profile.columns[name]
    present = profile.present(name)
    if seen.is_number:
        spread = (seen.high - seen.low) or abs(seen.high) or 1.0  # widened: later spans may go further
        low = seen.low - spread / 2 if seen.low < 0 else max(0.0, seen.low - spread / 2)
        column = Column(name, "int" if seen.whole else "float", seen.nulls, seen.distinct)
        column.min, column.max = rounded(math.floor(low)), rounded(math.ceil(seen.high + spread / 2))
        if seen.nulls:
            median = profile.median(name) if len(present) else seen.low
            column.default = int(round(median)) if seen.whole else rounded(median)
            column.max_null_fraction = null_limit(profile.worst_span_share(name))
        return column
    column = Column(name, "string", seen.nulls, seen.distinct)
    if seen.nulls and seen.rows > seen.nulls:
        column.default = str(present.mode().iloc[0]) if len(present) else min(seen.values or {""})
        column.max_null_fraction = null_limit(profile.worst_span_share(name))
    return column
