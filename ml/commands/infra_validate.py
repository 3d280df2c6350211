"""`infra-validate --model M`: load and query the SavedModel in a fresh process."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ml.config import PipelineConfig
from ml.roots import Roots

NAME = "infra-validate"
HELP = (
    "load the SavedModel in a fresh process and query both signatures with raw eval "
    "examples; writes M/infra_blessing.json"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model dir M written by `train`")
    parser.add_argument("--examples", type=int, default=8, help="raw eval examples to send")


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> dict:
    from ml.model.infra_validate import infra_validate
    from ml.model.layout import resolve_model

    record = infra_validate(cfg, roots, Path(args.model), count=args.examples)
    where = resolve_model(args.model).infra_blessing
    return {"command": "infra-validate", **record.result(), "infra_blessing": str(where)}


def summary(result: dict[str, Any]) -> str:
    """The one-line summary of this command's result (task log, stderr)."""
    from ml.model.blessing import InfraBlessing

    return f"{InfraBlessing.model_validate(result).summary()} ({result.get('infra_blessing')})"
