"""`rollback [--to-version V]`: retire the newest served version(s); never deletes."""

from __future__ import annotations

import argparse

from ml.config import PipelineConfig
from ml.roots import Roots

HELP = (
    "retire the newest served version (or every version newer than --to-version) into "
    "<serving_root>/.retired/; TF Serving falls back to the previous one"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to-version", type=int, help="keep this version live; retire newer ones")


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> dict:
    from ml.commands._serving import record_serving_history
    from ml.serving.rollback import rollback

    result = rollback(cfg, roots, args.to_version)
    record_serving_history(cfg, roots)
    return {"command": "rollback", **result}
