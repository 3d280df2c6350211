"""`validate --span D [--previous SPAN]`: Great Expectations + TFDV schema, drift and skew checks."""

from __future__ import annotations

import argparse

from ml.config import PipelineConfig
from ml.roots import Roots

HELP = (
    "check one raw span: Great Expectations suite, TFDV statistics vs the curated schema, "
    "drift vs the previous validated span, skew vs the serving log"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--span", required=True, help="span id YYYY-MM-DD")
    parser.add_argument(
        "--previous",
        metavar="SPAN",
        help="drift baseline span (default: the latest passed span before --span)",
    )


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> dict:
    from ml.data.validate import validate_span

    return {"command": "validate", **validate_span(cfg, roots, args.span, args.previous)}
