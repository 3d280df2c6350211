"""The CSV a user brings to `new-pipeline`, read as the text it holds, whatever shape it has.

One file, a folder of them or a glob; gzipped or not; a UTF-8 BOM; `,` `;` tab or `|`
separators (sniffed from the first 64 KiB); quoted fields with separators and newlines.
Header names are normalized to `snake_case` identifiers (`Trip Start` -> `trip_start`; the
original names are kept for the summary and pipeline.yaml); duplicate names (also after
normalizing) and files whose headers differ are refused with one message; a column empty in
every row is dropped and reported.
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import pandas as pd

from ml.errors import PipelineError

SEPARATORS = ",;\t|"
SAMPLE_BYTES = 64 * 1024
PATTERNS = ("*.csv", "*.csv.gz", "*.tsv", "*.tsv.gz", "*.txt", "*.txt.gz")


@dataclass
class SourceCsv:
    frame: pd.DataFrame  # every cell as text ("" when blank), normalized column names
    files: list[Path]
    separator: str
    renamed: dict[str, str] = field(default_factory=dict)  # original -> normalized, where different
    dropped: dict[str, str] = field(default_factory=dict)  # column -> why


def _error(message: str, path: Path | str, column: str | None = None) -> PipelineError:
    return PipelineError(message, file=str(path), column=column, rule="scaffold-csv")


def csv_files(source: Path) -> list[Path]:
    """A file, every CSV of a folder, or the files a glob names; sorted."""
    if source.is_dir():
        files = sorted({p for pattern in PATTERNS for p in source.glob(pattern) if p.is_file()})
    elif glob.has_magic(str(source)):
        files = sorted(Path(p) for p in glob.glob(str(source)) if Path(p).is_file())
    else:
        files = [source] if source.is_file() else []
    if not files:
        raise _error(f"no CSV file at {source} (a file, a folder of *.csv[.gz] or a glob)", source)
    return files


def _open_text(path: Path) -> TextIO:
    """The file as text, gunzipped when it is gzip; a UTF-8 BOM is dropped (`utf-8-sig`)."""
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    if gzipped:
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def sniff(path: Path) -> tuple[str, list[str]]:
    """The separator and the header row's names."""
    try:
        with _open_text(path) as fh:
            sample = fh.read(SAMPLE_BYTES)
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise _error(
            f"cannot read {path.name}: {exc} (UTF-8 text, gzipped or not, is expected)", path
        ) from None
    if not sample.strip():
        raise _error(f"{path.name} is empty", path)
    try:
        separator = csv.Sniffer().sniff("\n".join(sample.splitlines()[:50]), SEPARATORS).delimiter
    except csv.Error:
        separator = ","
    header = next(csv.reader(io.StringIO(sample), delimiter=separator))
    return separator, header


def normalized(name: str) -> str:
    """`Trip Start Timestamp` -> `trip_start_timestamp`; a leading digit gets `c_`."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())  # camelCase -> camel_Case
    clean = re.sub(r"[^0-9a-zA-Z]+", "_", words).strip("_").lower() or "column"
    return f"c_{clean}" if clean[0].isdigit() else clean


def _check_header(path: Path, header: list[str]) -> dict[str, str]:
    seen: dict[str, str] = {}
    for name in header:
        new = normalized(name)
        if new in seen:
            same = "" if seen[new] == name else f" (as {name!r} and {seen[new]!r})"
            raise _error(f"{path.name}: column {new!r} appears twice in the header{same}", path, column=name)
        seen[new] = name
    return {original: new for new, original in seen.items()}


def read_source(source: Path) -> SourceCsv:
    """Every file of `source` as text cells under normalized names (see the module doc)."""
    files = csv_files(source)
    frames, separators, first_header = [], set(), None
    for path in files:
        separator, header = sniff(path)
        names = _check_header(path, header)
        if first_header is None:
            first_header = header
        elif header != first_header:
            raise _error(
                f"{path.name}'s header differs from {files[0].name}'s: {header} vs {first_header}", path
            )
        try:
            with _open_text(path) as fh:
                frame = pd.read_csv(fh, sep=separator, dtype=str, keep_default_na=False)
        except (ValueError, pd.errors.ParserError) as exc:
            raise _error(f"cannot read {path.name}: {exc}", path) from None
        frames.append(frame.rename(columns=names))
        separators.add(separator)
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if frame.empty:
        raise _error(f"{source} has no data rows", source)
    empty = [c for c in frame.columns if (frame[c].str.strip() == "").all()]
    names = _check_header(files[0], first_header or [])
    renamed = {o: n for o, n in names.items() if o != n and n not in empty}
    return SourceCsv(
        frame.drop(columns=empty),
        files,
        separators.pop() if len(separators) == 1 else ",",
        renamed,
        {c: "empty in every row" for c in empty},
    )
