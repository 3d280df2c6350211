"""`retrain-check --span D`: should the validated span D start a training run now?"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ml.config import PipelineConfig
from ml.roots import Roots

if TYPE_CHECKING:
    from ml.results.retrain import RetrainDecision

HELP = (
    "decide from the results store whether a validated span calls for a new candidate model "
    "(training.retrain_on: drift on a watched feature, or N new validated spans)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--span", required=True, help="the span that just passed validation")


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> RetrainDecision:
    from ml.results import open_store
    from ml.results.retrain import retrain_decision
    from ml.spans import parse_span

    return retrain_decision(open_store(cfg, roots), cfg, parse_span(cfg, args.span))
