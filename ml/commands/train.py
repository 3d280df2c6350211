"""`train --transform-dir T [--output M]`: fit + export; also the trainer container command."""

from __future__ import annotations

import argparse
from pathlib import Path

from ml.config import PipelineConfig
from ml.model.train_result import TrainResult
from ml.roots import Roots
from ml.spans import SpanPaths

HELP = (
    "train the module file's model on a transform output and export a SavedModel "
    "(runs unchanged as a container command)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--transform-dir", required=True, help="a `transform` output folder")
    parser.add_argument(
        "--output",
        help="model dir M, replaced atomically (default "
        "<artifact_root>/<pipeline>/models/<transform run id>)",
    )
    parser.add_argument("--epochs", type=int, help="default training.epochs")
    parser.add_argument("--batch-size", type=int, help="default training.batch_size")
    parser.add_argument("--seed", type=int, default=0, help="random seed (weights, shuffling)")


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> TrainResult:
    from ml.model.trainer import train

    transform_dir = Path(args.transform_dir)
    output = (
        Path(args.output) if args.output else SpanPaths(cfg, roots).model_dir(transform_dir.resolve().name)
    )
    return train(
        cfg,
        transform_dir,
        output,
        epochs=args.epochs or cfg.train_epochs,
        batch_size=args.batch_size or cfg.train_batch_size,
        seed=args.seed,
    )
