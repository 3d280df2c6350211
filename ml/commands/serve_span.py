"""`serve-span --span D [--to D2] [--canary-share X]`: answer the span's (or spans D..D2's) serving
requests with the live model and write their prediction logs (the embedded default's stand-in for
TF Serving's clients)."""

from __future__ import annotations

import argparse
from typing import Any

from ml.config import PipelineConfig
from ml.roots import Roots

HELP = (
    "answer a span's serving requests with the served model (stable, a share to canary) through "
    "serving_default and log every prediction as TF Serving PredictionLog records"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--span", required=True, help="the span whose requests to answer")
    parser.add_argument("--to", help="answer every span from --span to this one (inclusive), in one process")
    parser.add_argument(
        "--canary-share",
        type=float,
        help="share of request ids answered by the `canary` version (default monitoring.canary_share)",
    )


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> dict:
    from ml.monitoring.serve import serve_span
    from ml.spans import span_range

    if not args.to:
        return {"command": "serve-span", **serve_span(cfg, roots, args.span, args.canary_share)}
    spans = [serve_span(cfg, roots, span, args.canary_share) for span in span_range(cfg, args.span, args.to)]
    return {
        "command": "serve-span",
        "span": f"{spans[0]['span']}..{spans[-1]['span']}",
        "spans": len(spans),
        "predictions": sum(s["predictions"] for s in spans),
        "answered": {
            k: n for k in ("stable", "canary") if (n := sum(s["answered"].get(k, 0) for s in spans))
        },
        "versions": spans[-1]["versions"],
    }


def summary(result: dict[str, Any]) -> str:
    """The one-line summary of this command's result (task log, stderr)."""
    answered = result.get("answered") or {}
    versions = result.get("versions") or {}
    by = ", ".join(f"{n} by {label} (v{versions.get(label)})" for label, n in answered.items())
    return f"span {result.get('span')}: {result.get('predictions', '?')} predictions logged ({by or 'none'})"
