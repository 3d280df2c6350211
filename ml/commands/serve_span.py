"""`serve-span --span D [--canary-share X]`: answer the span's serving requests with the live
model and write its prediction log (the embedded default's stand-in for TF Serving's clients)."""

from __future__ import annotations

import argparse

from ml.config import PipelineConfig
from ml.roots import Roots

HELP = (
    "answer a span's serving requests with the served model (stable, a share to canary) through "
    "serving_default and log every prediction as TF Serving PredictionLog records"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--span", required=True, help="the span whose requests to answer")
    parser.add_argument(
        "--canary-share",
        type=float,
        help="share of request ids answered by the `canary` version (default monitoring.canary_share)",
    )


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> dict:
    from ml.monitoring.serve import serve_span

    return {"command": "serve-span", **serve_span(cfg, roots, args.span, args.canary_share)}
