"""`new-pipeline`'s passes over a CSV read in chunks (memory bounded by a chunk, the profile's
sample and a few bytes per row, not by the file):

1. `scan`: every column profiled, the timestamp column parsed (checked against its median
   once the whole column has been seen), each row's span recorded (an int32 per row);
2. `choose_key`: a unique example key (one pass per candidate key: 8 bytes a row);
3. `land`: the rows written, cells verbatim, into one folder per span (+ `row_id` if needed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ml.cadence import CADENCES
from ml.errors import PipelineError
from ml.scaffold.profile import Profile
from ml.scaffold.source import SourceCsv
from ml.scaffold.timestamps import TimestampError, combined_kind, implausible, parse_timestamps

MAX_KEY_COLUMNS = 3  # columns tried beside the timestamp for a unique example key
ROW_ID = "row_id"  # the column added when no columns make rows unique
STAMP = "__stamp__"  # the parsed timestamp (ns) beside the sample's rows (never a normalized name)


@dataclass
class Scan:
    """What pass 1 learned."""

    profile: Profile
    timestamp: str
    kind: str  # how the timestamp column was read
    start: pd.Timestamp  # the earliest timestamp
    spans: list[str]  # in order of first appearance
    span_rows: list[np.ndarray]  # per chunk, per row: its span's index in `spans`

    @property
    def dropped(self) -> list[str]:
        """Columns empty in every row."""
        return [c for c, seen in self.profile.columns.items() if seen.blanks == seen.rows]

    @property
    def kept(self) -> list[str]:
        return [c for c in self.profile.columns if c not in self.dropped]


@dataclass(frozen=True)
class Stamp:
    """One timestamp cell and where it is."""

    ns: int
    path: Path
    row: int  # line in the file
    text: str


def repeated_rows(hashes: np.ndarray) -> int:
    """How many rows share their hash with another row (`hashes` sorted)."""
    same = hashes[1:] == hashes[:-1]  # row i+1 repeats row i
    starts = same & ~np.concatenate([[False], same[:-1]])  # the first repeat of each run
    return int(same.sum() + starts.sum())


def _spans_of(stamps: pd.Series, cadence: str) -> np.ndarray:
    """The span id of each stamp (computed once per distinct hour)."""
    codes, hours = pd.factorize(stamps.dt.floor("h"))
    kind = CADENCES[cadence]
    return np.array([kind.span_of(t.to_pydatetime()) for t in hours], dtype=object)[codes]


def _refuse(path: Path, row: int, column: str, value: str, why: str) -> PipelineError:
    return PipelineError(
        f"timestamp column {column!r} holds {value!r} in row {row} of {path.name}: {why}",
        file=str(path),
        column=column,
        rule="scaffold-timestamp",
    )


def scan(source: SourceCsv, timestamp: str, cadence: str, unit: str | None) -> Scan:
    """Pass 1 (see the module doc). Raises PipelineError naming the file and row of a timestamp
    that is missing, unreadable, of another kind than the rows before, or implausible."""
    profile = Profile(source.columns)
    kinds: list[str] = []
    earliest: Stamp | None = None
    latest: Stamp | None = None
    spans: dict[str, int] = {}
    span_rows = []
    for chunk in source.chunks():
        cells = chunk.frame[timestamp]
        try:
            parsed = parse_timestamps(cells, unit, plausible=False)
        except TimestampError as err:
            raise _refuse(chunk.path, chunk.file_row(err.row), timestamp, err.value, err.why) from None
        if kinds and combined_kind([kinds[0], parsed.kind]) is None:
            why = f"read as {parsed.kind} from this row on, as {kinds[0]} before"
            raise _refuse(chunk.path, chunk.file_row(0), timestamp, str(cells.iloc[0]), why)
        kinds.append(parsed.kind)
        ns = parsed.stamps.astype("int64").to_numpy()
        low, high = (
            Stamp(int(ns[i]), chunk.path, chunk.file_row(int(i)), str(cells.iloc[i]))
            for i in (ns.argmin(), ns.argmax())
        )
        earliest = low if earliest is None or low.ns < earliest.ns else earliest
        latest = high if latest is None or high.ns > latest.ns else latest
        ids = _spans_of(parsed.stamps, cadence)
        for span in pd.unique(ids):
            spans.setdefault(span, len(spans))
        span_rows.append(pd.Series(ids).map(spans).to_numpy(dtype=np.int32))
        profile.add(chunk.frame, span_rows[-1], **{STAMP: ns})
    if earliest is None or latest is None:
        raise PipelineError(
            f"{source.files[0].name} has no data rows", file=str(source.files[0]), rule="scaffold-csv"
        )
    median = pd.Timestamp(int(np.median(profile.sample[STAMP].to_numpy(dtype=np.int64))), tz="UTC")
    for stamp in (earliest, latest):
        far = implausible(pd.Timestamp(stamp.ns, tz="UTC"), median)
        if far:
            raise _refuse(stamp.path, stamp.row, timestamp, stamp.text, far)
    kind = combined_kind(kinds) or kinds[0]
    start = pd.Timestamp(earliest.ns, tz="UTC")
    return Scan(profile, timestamp, kind, start, list(spans), span_rows)


@dataclass(frozen=True)
class KeyChoice:
    key: list[str]
    why: str
    row_id: str | None = None  # the column to add, when no columns make rows unique
    twins: np.ndarray | None = None  # hashes of rows that occur more than once


def _row_hashes(frame: pd.DataFrame) -> np.ndarray:
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def sorted_hashes(source: SourceCsv, columns: list[str], rows: int) -> np.ndarray:
    """One pass: the hash of each row's `columns`, sorted (8 bytes a row)."""
    hashes, at = np.empty(rows, dtype=np.uint64), 0
    for chunk in source.chunks():
        part = _row_hashes(chunk.frame[columns])
        hashes[at : at + len(part)] = part
        at += len(part)
    hashes.sort()
    return hashes


def choose_key(source: SourceCsv, found: Scan) -> KeyChoice:
    """Pass 2: a unique example key (it places a row in train or eval, and joins labels to
    predictions; ingest refuses a missing key cell) and why: the timestamp if unique; else the
    timestamp plus columns without blank or missing cells, chosen greedily on the profile's
    sample (each time the column that leaves the fewest repeated rows, up to MAX_KEY_COLUMNS)
    and checked on the whole file once unique in the sample (e.g. station + hour); else a
    `row_id` column: a hash of the row's cells, numbered within identical rows (the same on a
    re-run). One pass per check, each holding one sorted hash per row (8 bytes)."""
    ts, rows = found.timestamp, found.profile.rows
    repeats = repeated_rows(sorted_hashes(source, [ts], rows))
    if not repeats:
        return KeyChoice([ts], f"{ts!r} is unique")
    columns = found.profile.columns
    candidates = [c for c, seen in columns.items() if c != ts and seen.blanks == 0 and seen.nulls == 0]
    sample = found.profile.sample
    said = f"{ts!r} repeats ({repeats} rows share a value)"
    key = [ts]
    while candidates and len(key) <= MAX_KEY_COLUMNS:
        best = min(candidates, key=lambda c: (int(sample.duplicated([*key, c]).sum()), -columns[c].distinct))
        candidates.remove(best)
        key.append(best)
        if not sample.duplicated(key).any() and not repeated_rows(sorted_hashes(source, key, rows)):
            return KeyChoice(key, f"{said}: {key} is unique")
    full = sorted_hashes(source, found.kept, rows)
    twins = np.unique(full[1:][full[1:] == full[:-1]])
    row_id = next(n for n in (ROW_ID, f"{ROW_ID}_", f"{ROW_ID}__") if n not in columns)
    why = f"{said} and no {MAX_KEY_COLUMNS} columns make rows unique: {row_id!r} added, a hash of each row"
    return KeyChoice([row_id], why, row_id, twins)


def row_ids(frame: pd.DataFrame, twins: np.ndarray, seen: dict[int, int]) -> pd.Series:
    """`<hash of the row's cells>-<occurrence>`; `seen` counts the twins' earlier occurrences."""
    digest = _row_hashes(frame)
    occurrence = np.zeros(len(frame), dtype=np.int64)
    twin = np.isin(digest, twins)
    if twin.any():
        repeated = pd.Series(digest[twin])
        before = repeated.map(lambda d: seen.get(d, 0)).to_numpy()
        occurrence[twin] = before + repeated.groupby(repeated).cumcount().to_numpy()
        for d, n in zip(*np.unique(digest[twin], return_counts=True), strict=True):
            seen[int(d)] = seen.get(int(d), 0) + int(n)
    return pd.Series([f"{d:016x}-{o}" for d, o in zip(digest, occurrence, strict=True)], index=frame.index)


def land(
    source: SourceCsv,
    found: Scan,
    choice: KeyChoice,
    folder_of: Callable[[str], Path],
    file: str,
    marker: str,
) -> None:
    """Pass 3: each row appended, cells verbatim (empty columns left out), to `file` in its
    span's folder, in file order; the done markers written last."""
    seen: dict[int, int] = {}
    for chunk, codes in zip(source.chunks(), found.span_rows, strict=True):
        frame = chunk.frame[found.kept]
        if choice.row_id and choice.twins is not None:
            frame = frame.assign(**{choice.row_id: row_ids(frame, choice.twins, seen)})
        for code in np.unique(codes):
            rows = frame[codes == code]
            path = folder_of(found.spans[code]) / file
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", newline="") as fh:
                rows.to_csv(fh, header=fh.tell() == 0, index=False)
    for span in found.spans:
        (folder_of(span) / marker).write_text("")
