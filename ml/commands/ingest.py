"""`ingest --span D`: landing CSV(s) -> train/eval tf.Example TFRecords + summary.json."""

from __future__ import annotations

import argparse

from ml.commands._results import run_span_step
from ml.config import PipelineConfig
from ml.data.ingest import ingest_span
from ml.data.span_results import IngestSummary
from ml.roots import Roots

HELP = "ingest one span into train/eval-split gzipped tf.Example TFRecords"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--span", required=True, help="span id (its format follows span.cadence, e.g. 2013-01-05 or 2013-01)"
    )


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> IngestSummary:
    return run_span_step(cfg, roots, args.span, "ingest", lambda: ingest_span(cfg, roots, args.span))
