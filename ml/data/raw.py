"""Read one raw landing span into a typed DataFrame, with errors that name span/file/column/rule."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ml.config import PipelineConfig
from ml.errors import DataError, MissingArtifact, PipelineError

_NUMERIC = {"int", "float"}


@dataclass
class RawSpan:
    span: str
    files: list[Path]
    frame: pd.DataFrame  # typed: strings as object, int as nullable Int64, float as float64


def matching_files(cfg: PipelineConfig, folder: Path) -> list[Path]:
    """The files of `folder` matching the pipeline's landing glob, sorted (none: no folder)."""
    return sorted(p for p in folder.glob(cfg.landing_glob) if p.is_file()) if folder.is_dir() else []


def span_files(cfg: PipelineConfig, landing_dir: Path, span: str) -> list[Path]:
    """The span's CSV files, sorted; fails when the folder is missing or has none."""
    if not landing_dir.is_dir():
        raise MissingArtifact(
            f"landing folder for span {span} does not exist: {landing_dir}",
            span=span,
            file=str(landing_dir),
            rule="span-folder-exists",
        )
    files = matching_files(cfg, landing_dir)
    if not files:
        raise DataError(
            f"landing folder for span {span} has no file matching {cfg.landing_glob!r}: {landing_dir}",
            span=span,
            file=str(landing_dir),
            rule="span-has-files",
        )
    return files


def _read_csv(path: Path, span: str, columns: list[str]) -> pd.DataFrame:
    """Read every declared column as text (typing happens per column, with clear errors)."""
    from pyarrow import ArrowInvalid, csv

    if path.stat().st_size == 0:
        raise DataError(f"file is empty (0 bytes): {path}", span=span, file=str(path), rule="file-not-empty")
    convert = csv.ConvertOptions(
        column_types={c: "string" for c in columns}, null_values=["", "NA", "NaN"], strings_can_be_null=True
    )
    try:
        quoted = csv.ParseOptions(newlines_in_values=True)  # a quoted cell may hold a line break
        table = csv.read_csv(path, parse_options=quoted, convert_options=convert)
    except ArrowInvalid as exc:
        rule = "file-not-empty" if "Empty CSV" in str(exc) else "csv-well-formed"
        raise PipelineError(f"cannot parse {path}: {exc}", span=span, file=str(path), rule=rule) from None
    return table.to_pandas()


def _convert(series: pd.Series, typ: str, *, span: str, file: Path, column: str) -> pd.Series:
    if typ == "string":
        return series.astype(object)
    numbers = pd.to_numeric(series, errors="coerce")
    bad = numbers.isna() & series.notna()
    if bad.any():
        row = int(bad.idxmax())
        raise PipelineError(
            f"column {column!r} must be {typ} but row {row + 2} of {file.name} holds "
            f"{series[row]!r} ({int(bad.sum())} bad value(s) in the file)",
            span=span,
            file=str(file),
            column=column,
            rule=f"type-{typ}",
        )
    if typ == "int":
        fractional = numbers.notna() & (numbers % 1 != 0)
        if fractional.any():
            row = int(fractional.idxmax())
            raise DataError(
                f"column {column!r} must be int but row {row + 2} holds {series[row]!r}",
                span=span,
                file=str(file),
                column=column,
                rule="type-int",
            )
        return numbers.astype("Int64")
    return numbers.astype("float64")


def read_typed(files: list[Path], span: str, types: dict[str, str]) -> pd.DataFrame:
    """The `types` columns (`{column: string|int|float}`) of CSV files, typed, one frame; other
    columns are ignored. A missing column or a bad value fails naming span, file, column, rule."""
    frames = []
    for path in files:
        frame = _read_csv(path, span, list(types))
        missing = [c for c in types if c not in frame.columns]
        if missing:
            raise DataError(
                f"required column(s) {', '.join(missing)} missing from {path.name}",
                span=span,
                file=str(path),
                column=missing[0],
                rule="column-present",
            )
        typed = {c: _convert(frame[c], t, span=span, file=path, column=c) for c, t in types.items()}
        frames.append(pd.DataFrame(typed))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def read_raw_span(cfg: PipelineConfig, landing_dir: Path, span: str) -> RawSpan:
    """Read, check the structure and type every column the pipeline declares."""
    files = span_files(cfg, landing_dir, span)
    frame = read_typed(files, span, cfg.raw_column_types)
    if len(frame) < cfg.min_rows:
        raise DataError(
            f"span {span} has {len(frame)} data row(s); at least {cfg.min_rows} "
            f"required ({', '.join(p.name for p in files)})",
            span=span,
            file=str(files[0]),
            rule="min-rows",
        )
    return RawSpan(span=span, files=files, frame=frame)
