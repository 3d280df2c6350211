"""The CSV a user brings to `new-pipeline`, read as the text it holds, whatever shape it has.

One file, a folder of them or a glob; gzipped or not; a UTF-8 BOM; `,` `;` tab or `|`
separators (sniffed from the first 64 KiB); quoted fields with separators and newlines.
Header names are normalized to `snake_case` identifiers (`Trip Start` -> `trip_start`; the
original names are kept for the summary and pipeline.yaml); duplicate names (also after
normalizing) and files whose headers differ are refused with one message.

Rows are read in chunks of `CHUNK_ROWS` (`SourceCsv.chunks()`), so a file larger than memory
can be read: whoever reads it keeps what it needs of each chunk.
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import pandas as pd

from ml.errors import PipelineError

SEPARATORS = ",;\t|"
SAMPLE_BYTES = 64 * 1024
PATTERNS = ("*.csv", "*.csv.gz", "*.tsv", "*.tsv.gz", "*.txt", "*.txt.gz")
CHUNK_ROWS = 100_000  # rows per chunk (a few tens of MB of text cells)


@dataclass(frozen=True)
class Chunk:
    path: Path
    first_row: int  # 0-based data row of `path` the chunk starts at
    frame: pd.DataFrame  # every cell as text ("" when blank), normalized column names

    def file_row(self, row: int) -> int:
        """The line number of the chunk's `row` in its file (header = 1, no line breaks in cells)."""
        return self.first_row + row + 2


@dataclass(frozen=True)
class SourceCsv:
    files: list[Path]
    separators: dict[Path, str]
    columns: list[str]  # normalized names, in the header's order
    renamed: dict[str, str]  # original -> normalized, where different

    @property
    def separator(self) -> str:
        """The separator of every file (`,` in the summary when they differ)."""
        found = set(self.separators.values())
        return found.pop() if len(found) == 1 else ","

    def chunks(self, rows: int | None = None) -> Iterator[Chunk]:
        """Every data row of every file, `rows` (default CHUNK_ROWS) at a time."""
        for path in self.files:
            first = 0
            try:
                with _open_text(path) as fh:
                    reader = pd.read_csv(
                        fh,
                        sep=self.separators[path],
                        dtype=str,
                        keep_default_na=False,
                        chunksize=rows or CHUNK_ROWS,
                    )
                    for frame in reader:
                        frame.columns = self.columns
                        yield Chunk(path, first, frame)
                        first += len(frame)
            except (ValueError, pd.errors.ParserError) as exc:
                raise _error(f"cannot read {path.name} after data row {first}: {exc}", path) from None


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


def open_source(source: Path) -> SourceCsv:
    """The files of `source`, their separators and header (checked: see the module doc)."""
    files = csv_files(source)
    separators, first_header = {}, None
    for path in files:
        separators[path], header = sniff(path)
        _check_header(path, header)
        if first_header is None:
            first_header = header
        elif header != first_header:
            raise _error(
                f"{path.name}'s header differs from {files[0].name}'s: {header} vs {first_header}", path
            )
    names = _check_header(files[0], first_header or [])
    renamed = {original: new for original, new in names.items() if original != new}
    return SourceCsv(files, separators, list(names.values()), renamed)
