"""A CSV's timestamp column read as UTC instants, whatever common kind it is.

Kinds: Unix epoch numbers (seconds, milliseconds, microseconds or nanoseconds: from the
magnitude, or the unit given), `YYYYMMDD` integers, and text (ISO 8601 with or without a zone,
`YYYY-MM-DD HH:MM:SS`, dates only, mixed zone offsets). Text without a zone is read as UTC.
A timestamp implausibly far from the rest (1970 among 2013: an epoch read in the wrong unit, a
placeholder) is refused, never placed in a span of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where a column is parsed: the CLI's parser stays light
    import pandas as pd

UNITS = ("s", "ms", "us", "ns")
UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
# Epoch magnitudes: a date between 1973 and 5138 in seconds is below 1e11, in ms below 1e14, ...
UNIT_LIMITS = ((1e11, "s"), (1e14, "ms"), (1e17, "us"))
MAX_YEARS_FROM_MEDIAN = 20
EARLIEST_YEAR = 1900
ZONED = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")
YYYYMMDD_KIND = "YYYYMMDD dates (UTC)"
YYYYMMDD = re.compile(r"^(19|20|21)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$")


class TimestampError(ValueError):
    """One cell that is not a usable timestamp: its row (0-based, data rows) and why."""

    def __init__(self, row: int, value: str, why: str) -> None:
        self.row, self.value, self.why = row, value, why
        super().__init__(f"row {row}: {value!r}: {why}")


@dataclass(frozen=True)
class Parsed:
    stamps: pd.Series  # tz-aware UTC
    kind: str  # how the column was read, for the summary and pipeline.yaml


def _first_bad(mask: pd.Series) -> int:
    return int(mask.to_numpy().argmax())


def epoch_unit(numbers: pd.Series) -> str:
    """The epoch unit the magnitude of the numbers says."""
    typical = float(numbers.abs().median())
    return next((unit for limit, unit in UNIT_LIMITS if typical < limit), "ns")


def parse_timestamps(values: pd.Series, unit: str | None = None, *, plausible: bool = True) -> Parsed:
    """`values` (text cells; blanks are NA) as UTC timestamps and how they were read. Raises
    TimestampError for the first unusable cell; `plausible=False` leaves the check against the
    column's median to the caller (a file read in chunks: see `implausible`)."""
    import pandas as pd

    text = values.astype("string").str.strip()
    blank = text.isna() | (text == "")
    if blank.any():
        raise TimestampError(_first_bad(blank), "", "empty: every row needs a timestamp")
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().all():
        if unit is None and text.str.fullmatch(YYYYMMDD.pattern).all():
            stamps, kind = pd.to_datetime(text, format="%Y%m%d", utc=True), YYYYMMDD_KIND
        else:
            how = "given" if unit else "from the magnitude"
            unit = unit or epoch_unit(numbers)
            stamps = pd.to_datetime(numbers, unit=unit, utc=True, errors="coerce")
            kind = f"Unix epoch {UNIT_NAMES[unit]} ({how}; --timestamp-unit overrides)"
    else:
        if unit is not None:
            row = _first_bad(numbers.isna())
            why = f"not a number, but --timestamp-unit {unit} was given"
            raise TimestampError(row, str(text.iloc[row]), why)
        cells = text.astype(object)
        stamps = pd.to_datetime(cells, utc=True, errors="coerce")
        if stamps.isna().any():  # formats that differ row to row: one cell at a time (slower)
            one_by_one = cells.map(lambda cell: pd.to_datetime(cell, utc=True, errors="coerce"))
            stamps = pd.to_datetime(one_by_one, utc=True)
        kind = text_kind(text)
    bad = stamps.isna()
    if bad.any():
        row = _first_bad(bad)
        raise TimestampError(row, str(text.iloc[row]), "not a date/time")
    early = stamps.dt.year < EARLIEST_YEAR
    if early.any():
        row = _first_bad(early)
        raise TimestampError(
            row, str(text.iloc[row]), f"reads as {stamps.iloc[row]:%Y-%m-%d}, before {EARLIEST_YEAR}"
        )
    if plausible:
        _refuse_implausible(stamps, text)
    return Parsed(stamps, kind)


DATES = "dates (UTC)"
ZONES = "text with zone offsets (converted to UTC)"
NO_ZONE = "text without a zone (read as UTC)"
SOME_ZONES = "text, some with a zone offset (the others read as UTC)"


def text_kind(text: pd.Series) -> str:
    if text.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all():
        return DATES
    zoned = text.str.contains(ZONED.pattern, regex=True)
    if zoned.all():
        return ZONES
    return NO_ZONE if not zoned.any() else SOME_ZONES


def combined_kind(kinds: list[str]) -> str | None:
    """The kind of a column read in parts of these kinds; None when they cannot be one column
    (numbers in one part, text or another epoch unit in another)."""
    if len(set(kinds)) == 1:
        return kinds[0]
    if any(kind not in (DATES, ZONES, NO_ZONE, SOME_ZONES) for kind in kinds):
        return None
    return SOME_ZONES if any(kind in (ZONES, SOME_ZONES) for kind in kinds) else NO_ZONE


def implausible(stamp: pd.Timestamp, median: pd.Timestamp) -> str | None:
    """Why `stamp` cannot be a timestamp of a column whose median is `median`, or None."""
    import pandas as pd

    if abs(stamp - median) / pd.Timedelta(days=365.25) <= MAX_YEARS_FROM_MEDIAN:
        return None
    return (
        f"reads as {stamp:%Y-%m-%d}, more than {MAX_YEARS_FROM_MEDIAN} years from the column's "
        f"median {median:%Y-%m-%d} (a wrong epoch unit or a placeholder?)"
    )


def _refuse_implausible(stamps: pd.Series, text: pd.Series) -> None:
    import pandas as pd

    median = stamps.sort_values().iloc[len(stamps) // 2]
    years = (stamps - median).abs() / pd.Timedelta(days=365.25)
    far = years > MAX_YEARS_FROM_MEDIAN
    if far.any():
        row = _first_bad(far)
        raise TimestampError(row, str(text.iloc[row]), implausible(stamps.iloc[row], median) or "")
