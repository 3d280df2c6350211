"""`transform [--end-span D] [--window K] [--run-id R]`: TFT over the window's spans."""

from __future__ import annotations

import argparse
from typing import Any

from ml.config import PipelineConfig
from ml.errors import PipelineError
from ml.roots import Roots

HELP = "TFT: analyze the train split of the last K spans up to D, transform train and eval"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--end-span", help="last span id of the window (default: the newest ingested span)")
    parser.add_argument(
        "--window", type=int, help="number of spans (of span.cadence) ending there (training.window_spans)"
    )
    parser.add_argument(
        "--run-id",
        help="output folder name under transforms/ (default <end-span>-w<window>; reruns replace it)",
    )


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> dict:
    from ml.model.transform import run_transform
    from ml.spans import SpanPaths

    end_span = args.end_span
    if not end_span:
        ingested = SpanPaths(cfg, roots).ingested_spans()
        if not ingested:
            raise PipelineError(f"no span of pipeline {cfg.name} is ingested yet", rule="min-spans")
        end_span = ingested[-1]
    return {"command": "transform", **run_transform(cfg, roots, end_span, args.window, args.run_id)}


def summary(result: dict[str, Any]) -> str:
    """The one-line summary of this command's result (task log, stderr)."""
    spans = result.get("spans_used") or result.get("spans") or []
    rows = result.get("rows") or {}
    line = f"transform {result.get('run_id', '')}: {len(spans)} span(s)"
    if spans:
        line += f" {spans[0]}..{spans[-1]}"
    if isinstance(rows, dict) and rows:
        line += f"; {rows.get('train', '?')} train / {rows.get('eval', '?')} eval rows"
    missing, skipped = result.get("spans_missing") or [], result.get("spans_skipped") or []
    if missing or skipped:
        line += f"; {len(missing)} missing, {len(skipped)} skipped"
    return line
