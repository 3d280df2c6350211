"""`evaluate --model M [--baseline auto|none|PATH] [--spans D1:D2] [--output E]`: TFMA + blessing."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ml.config import PipelineConfig
from ml.model.layout import BaselineModel, EvaluationLayout, find_saved_model
from ml.roots import Roots
from ml.serving.labels import stable_version
from ml.serving.layout import ServingLayout

HELP = (
    "TFMA evaluation on the raw eval split, sliced, with thresholds vs the served model; "
    "writes blessing.json (exit 0 whether or not blessed)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model dir M written by `train`")
    parser.add_argument(
        "--baseline",
        default="auto",
        help="auto (the version labelled `stable` in models.config, if any) | none | PATH to a SavedModel",
    )
    parser.add_argument("--spans", help="eval spans D1:D2 (default: the model's training window)")
    parser.add_argument(
        "--output", help="evaluation dir E (default <artifact_root>/<pipeline>/evaluations/<model name>)"
    )


def resolve_baseline_model(layout: ServingLayout, baseline: str) -> BaselineModel | None:
    """`auto`: the `stable` version (None if nothing is served); `none`; or a path (its version
    when it is one of the served version folders)."""
    if baseline == "none":
        return None
    if baseline == "auto":
        version = stable_version(layout)
        return None if version is None else BaselineModel(layout.version_dir(version), version)
    path = find_saved_model(baseline)
    served = path.parent == layout.base.resolve() and path.name.isdigit()
    return BaselineModel(path, int(path.name) if served else None)


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> dict:
    from ml.model.evaluate import evaluate
    from ml.monitoring.reference import REFERENCE_FILE, reference_of
    from ml.results import open_store
    from ml.results.record import record_evaluation

    blessing = evaluate(
        cfg,
        roots,
        Path(args.model),
        baseline=resolve_baseline_model(ServingLayout.of(cfg, roots), args.baseline),
        spans=args.spans,
        output=Path(args.output) if args.output else None,
        beside={REFERENCE_FILE: lambda rows: reference_of(cfg, rows)},  # the live model's
    )
    evaluation = EvaluationLayout(Path(str(blessing.evaluation_dir)))
    record_evaluation(open_store(cfg, roots), cfg, evaluation.root)
    return {
        "command": "evaluate",
        **blessing.result(),
        "blessing": str(evaluation.blessing),
        "metrics_file": str(evaluation.metrics),
    }


def summary(result: dict[str, Any]) -> str:
    """The one-line summary of this command's result (task log, stderr)."""
    from ml.model.blessing import Blessing

    return Blessing.model_validate(result).summary()
