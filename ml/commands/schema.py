"""`schema --infer --span D [--output PATH]`: infer a TFDV schema from a span, to curate by hand."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ml.config import PipelineConfig
from ml.errors import DataError
from ml.roots import Roots

HELP = "infer a TFDV schema.pbtxt from one span's statistics (a starting point to curate)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--infer", action="store_true", help="infer the schema (required)")
    parser.add_argument(
        "--span", required=True, help="span id (its format follows span.cadence, e.g. 2013-01-05 or 2013-01)"
    )
    parser.add_argument(
        "--output", type=Path, help="where to write schema.pbtxt (default: the pipeline's schema.pbtxt)"
    )


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> dict:
    from ml.data.raw import span_files
    from ml.data.schema import infer_schema, write_schema
    from ml.data.stats import compute_statistics, span_columns
    from ml.spans import SpanPaths, parse_span

    if not args.infer:
        raise DataError("nothing to do: pass --infer", rule="schema-usage")
    span = parse_span(cfg, args.span)
    files = span_files(cfg, SpanPaths(cfg, roots).landing_dir(span), span)
    with tempfile.TemporaryDirectory(prefix="ml-schema-") as tmp:
        stats = compute_statistics(files, span_columns(cfg), Path(tmp) / "statistics.tfrecord")
    schema = infer_schema(cfg, stats)
    output = write_schema(schema, args.output or cfg.schema_path)
    domains = {d.name: len(d.value) for d in schema.string_domain}
    return {
        "command": "schema",
        "span": span,
        "schema": str(output),
        "features": len(schema.feature),
        "string_domains": domains,
    }
