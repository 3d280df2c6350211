"""`transform [--end-span D] [--window K] [--run-id R]`: TFT over the window's spans."""

from __future__ import annotations

import argparse

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
