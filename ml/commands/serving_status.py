"""`serving-status [--serving-url URL]`: served versions, live one, metrics, retired ones."""

from __future__ import annotations

import argparse
from typing import Any

from ml.config import PipelineConfig
from ml.roots import Roots

NAME = "serving-status"
HELP = "list served and retired versions with their metrics; optionally ask TF Serving too"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--serving-url", help="TF Serving REST base URL to query as well")


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> dict:
    from ml.serving.status import serving_status

    return {"command": "serving-status", **serving_status(cfg, roots, args.serving_url)}


def summary(result: dict[str, Any]) -> str:
    """The one-line summary of this command's result (task log, stderr)."""
    labels = ", ".join(f"{k} -> v{v}" for k, v in sorted((result.get("labels") or {}).items()))
    return (
        f"{result.get('model')}: live version {result.get('live_version')}; loaded "
        f"{result.get('loaded_versions')}; labels {labels or 'none'}"
    )
