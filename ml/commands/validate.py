"""`validate --span D [--previous SPAN]`: Great Expectations + TFDV schema, drift and skew checks."""

from __future__ import annotations

import argparse

from ml.commands._results import run_span_step
from ml.config import PipelineConfig
from ml.data.span_results import ValidateResult
from ml.roots import Roots

HELP = (
    "check one raw span: Great Expectations suite, TFDV statistics vs the curated schema, "
    "drift vs the span(s) before it in the cadence, skew vs the serving log"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--span", required=True, help="span id (its format follows span.cadence, e.g. 2013-01-05 or 2013-01)"
    )
    parser.add_argument(
        "--previous",
        metavar="SPAN",
        help="drift baseline span (default: checks.drift.baseline of pipeline.yaml, the span before)",
    )


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> ValidateResult:
    from ml.data.validate import validate_span

    return run_span_step(
        cfg, roots, args.span, "validate", lambda: validate_span(cfg, roots, args.span, args.previous)
    )
