"""`rollback [--to-version V] [--serving-url URL]`: move the `stable` label back; copies nothing."""

from __future__ import annotations

import argparse
from typing import Any

from ml.config import PipelineConfig
from ml.roots import Roots

HELP = (
    "point the `stable` version label at the previous loaded version (or --to-version V) in "
    "models.config; the version rolled back from stays loaded until retention retires it"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to-version", type=int, help="make this loaded version stable")
    parser.add_argument(
        "--serving-url", help="TF Serving REST base URL: wait until /labels/stable answers with the version"
    )
    parser.add_argument(
        "--timeout", type=float, help="seconds to wait for TF Serving (serving.wait_timeout_s)"
    )


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> dict:
    from ml.commands._serving import record_serving_history
    from ml.serving.rollback import rollback

    result = rollback(cfg, roots, args.to_version, serving_url=args.serving_url, timeout_s=args.timeout)
    record_serving_history(cfg, roots)
    return {"command": "rollback", **result}


def summary(result: dict[str, Any]) -> str:
    """The one-line summary of this command's result (task log, stderr)."""
    return f"{result.get('model')}: live version is now {result.get('live_version')}"
