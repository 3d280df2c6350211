"""TFDV statistics of CSV files: a fast in-process Arrow path and a Beam path.

Backends (env `ML_STATS_BACKEND`):
- `memory`: pyarrow reads the CSV with typed columns (multi-threaded), every column is wrapped
  in one-element lists (vectorised, `ml.data.examples.list_wrap`) and fed batch by batch to
  TFDV's own statistics generators in this process. Files above `STREAM_MIN_BYTES` are read
  as a stream of blocks, so memory stays bounded.
- `beam`: `tfdv.generate_statistics_from_csv` on the runner of `ml.beam.pipeline_options()`
  (FnApiRunner, or Flink/Spark/Dataflow via `ML_BEAM_RUNNER`), for inputs that should be
  spread over workers.
- `auto` (default): `beam` when the input is at least `ML_STATS_BEAM_MIN_BYTES` bytes
  (default 8 GiB), else `memory`.
Both produce a `DatasetFeatureStatisticsList` with the same features and types.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from ml.config import PipelineConfig
from ml.data.examples import list_wrap
from ml.errors import ConfigError, DataError

if TYPE_CHECKING:  # pragma: no cover
    from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

BACKEND_ENV = "ML_STATS_BACKEND"
BEAM_MIN_BYTES_ENV = "ML_STATS_BEAM_MIN_BYTES"
BACKENDS = ("auto", "memory", "beam")
DEFAULT_BEAM_MIN_BYTES = 8 << 30
STREAM_MIN_BYTES = 1 << 30  # larger files are streamed block by block
READ_BLOCK_BYTES = 16 << 20  # ~100k flight rows per Arrow batch
NULL_VALUES = ["", "NA", "NaN"]
ARROW_TYPES = {"string": pa.string(), "int": pa.int64(), "float": pa.float32()}


def span_columns(cfg: PipelineConfig) -> dict[str, str]:
    """Columns the span statistics cover: every landed feature plus the label's source column(s)
    (derived features exist from ingest on: they are not in the landing files)."""
    return {
        **{f.name: f.type for f in cfg.landed_features},
        **{c: cfg.raw_column_types[c] for c in cfg.label_columns},
    }


def serving_columns(cfg: PipelineConfig) -> dict[str, str]:
    """Columns of a serving-request log: the landed features (no label)."""
    return {f.name: f.type for f in cfg.landed_features}


def choose_backend(files: Sequence[Path], backend: str | None = None) -> str:
    """`memory` or `beam` for these files, from the argument, `ML_STATS_BACKEND` and the size."""
    choice = (backend or os.environ.get(BACKEND_ENV) or "auto").lower()
    if choice not in BACKENDS:
        raise ConfigError(
            f"{BACKEND_ENV}={choice!r} is not one of {', '.join(BACKENDS)}", rule="stats-backend"
        )
    if choice != "auto":
        return choice
    threshold = int(os.environ.get(BEAM_MIN_BYTES_ENV, DEFAULT_BEAM_MIN_BYTES))
    return "beam" if sum(Path(f).stat().st_size for f in files) >= threshold else "memory"


def stats_options(columns: Sequence[str], schema: schema_pb2.Schema | None = None):
    """TFDV's default generators over `columns` (numeric histograms kept: JSD needs them).

    `schema` (when validating) tells TFDV which features are categorical.
    """
    import tensorflow_data_validation as tfdv

    return tfdv.StatsOptions(schema=schema, feature_allowlist=list(columns))


def read_csv_batches(files: Sequence[Path], types: dict[str, str]) -> Iterator[pa.RecordBatch]:
    """Typed Arrow batches of the declared columns of every file (other columns skipped)."""
    from pyarrow import csv

    convert = csv.ConvertOptions(
        include_columns=list(types),
        column_types={c: ARROW_TYPES[t] for c, t in types.items()},
        null_values=NULL_VALUES,
        strings_can_be_null=True,
    )
    read = csv.ReadOptions(block_size=READ_BLOCK_BYTES)
    parse = csv.ParseOptions(newlines_in_values=True)  # a quoted cell may hold a line break
    for path in files:
        try:
            if Path(path).stat().st_size >= STREAM_MIN_BYTES:
                yield from csv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert)
            else:
                table = csv.read_csv(path, read_options=read, parse_options=parse, convert_options=convert)
                yield from table.to_batches()
        except pa.ArrowInvalid as exc:
            raise DataError(
                f"cannot read the typed columns of {path}: {exc}", file=str(path), rule="csv-typed-columns"
            ) from None


def to_list_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Every column wrapped in one-element lists: the layout TFDV's generators expect."""
    return pa.RecordBatch.from_arrays([list_wrap(col) for col in batch.columns], batch.schema.names)


def statistics_in_memory(
    batches: Iterator[pa.RecordBatch], options
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """TFDV's in-memory generators fed batch by batch (the combiner contract Beam uses too)."""
    from tensorflow_data_validation.statistics import stats_impl

    generators = stats_impl.get_generators(options, in_memory=True)
    accumulators = [g.create_accumulator() for g in generators]
    for batch in batches:
        lists = to_list_batch(batch)
        accumulators = [g.add_input(acc, lists) for g, acc in zip(generators, accumulators, strict=True)]
    return stats_impl.extract_statistics_output(accumulators, generators)


def statistics_with_beam(files: Sequence[Path], types: dict[str, str], options, output: Path):
    """Beam pipeline: read each CSV, decode typed by its own header, TFDV GenerateStatistics."""
    import apache_beam as beam
    import tensorflow_data_validation as tfdv
    from tensorflow_data_validation.coders.csv_decoder import DecodeCSV

    from ml.beam import pipeline_options

    with beam.Pipeline(options=pipeline_options()) as pipeline:
        decoded = []
        for i, path in enumerate(files):
            header = csv_header(path)
            decoded.append(
                pipeline
                | f"Read[{i}]" >> beam.io.ReadFromText(str(path), skip_header_lines=1)
                | f"Decode[{i}]" >> DecodeCSV(column_names=header, schema=decode_schema(header, types))
            )
        _ = (
            decoded
            | "Flatten" >> beam.Flatten()
            | "Statistics" >> tfdv.GenerateStatistics(options)
            | "Write" >> tfdv.WriteStatisticsToTFRecord(str(output))
        )
    return load_statistics(output)


def csv_header(path: Path) -> list[str]:
    import csv

    with open(path, newline="") as fh:
        return next(csv.reader(fh), [])


def decode_schema(header: Sequence[str], types: dict[str, str]) -> schema_pb2.Schema:
    """A bare schema typing every CSV column: declared ones as declared, the others as bytes."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    kinds = {"string": schema_pb2.BYTES, "int": schema_pb2.INT, "float": schema_pb2.FLOAT}
    schema = schema_pb2.Schema()
    for name in header:
        schema.feature.add(name=name, type=kinds[types.get(name, "string")])
    return schema


def compute_statistics(
    files: Sequence[Path],
    types: dict[str, str],
    output: Path,
    *,
    schema: schema_pb2.Schema | None = None,
    backend: str | None = None,
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Statistics of the typed `types` columns of `files`, written to `output` (TFRecord)."""
    files = [Path(f) for f in files]
    options = stats_options(list(types), schema)
    if choose_backend(files, backend) == "beam":
        return statistics_with_beam(files, types, options, output)
    stats = statistics_in_memory(read_csv_batches(files, types), options)
    write_statistics(stats, output)
    return stats


def write_statistics(stats: statistics_pb2.DatasetFeatureStatisticsList, path: Path) -> Path:
    """One-record TFRecord, the format `tfdv.load_statistics` and TFX read (caller makes it atomic)."""
    import tensorflow as tf

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(stats.SerializeToString())
    return Path(path)


def load_statistics(path: Path) -> statistics_pb2.DatasetFeatureStatisticsList:
    import tensorflow_data_validation as tfdv

    return tfdv.load_statistics(str(path))


def statistics_html(
    stats, baseline=None, *, name: str = "span", baseline_name: str = "baseline", title: str = "statistics"
) -> str:
    """A standalone HTML page with TFDV's Facets Overview of `stats` (against `baseline`)."""
    from tensorflow_data_validation.utils.display_util import get_statistics_html

    body = get_statistics_html(stats, baseline, lhs_name=name, rhs_name=baseline_name)
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{title}</title></head>\n"
        f"<body><h1>{title}</h1>\n{body}\n</body></html>\n"
    )
