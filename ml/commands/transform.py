"""`transform --end-span D [--window K] [--run-id R]`: TFT over the window's spans."""

from __future__ import annotations

import argparse

from ml.config import PipelineConfig
from ml.roots import Roots

HELP = "TFT: analyze the train split of the last K spans up to D, transform train and eval"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--end-span", required=True, help="last span of the window, YYYY-MM-DD")
    parser.add_argument(
        "--window", type=int, help="number of daily spans ending at --end-span (training.window_spans)"
    )
    parser.add_argument(
        "--run-id",
        help="output folder name under transforms/ (default <end-span>-w<window>; reruns replace it)",
    )


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> dict:
    from ml.model.transform import run_transform

    return {"command": "transform", **run_transform(cfg, roots, args.end_span, args.window, args.run_id)}
