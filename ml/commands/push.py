"""`push --model M --blessing B [--serving-url URL]`: install a new TF Serving version."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ml.config import PipelineConfig
from ml.roots import Roots

if TYPE_CHECKING:
    from ml.serving.push import PushResult

HELP = (
    "copy a blessed, infra-validated model into <serving_root>/<model>/<next version>/ "
    "and update models.config; with --serving-url, wait for TF Serving or roll back"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model dir M written by `train`")
    parser.add_argument("--blessing", required=True, help="blessing.json written by `evaluate`")
    parser.add_argument(
        "--serving-url", help="TF Serving REST base URL, e.g. http://localhost:8501 (then wait + smoke test)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds to wait for the version to be AVAILABLE (serving.wait_timeout_s)",
    )
    parser.add_argument(
        "--tf-serving-root",
        help="the serving root as TF Serving sees it, for models.config "
        "base_path (env ML_TF_SERVING_ROOT; default: the serving root)",
    )


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> PushResult:
    from ml.commands._serving import record_serving_history
    from ml.serving.push import push

    try:
        return push(
            cfg,
            roots,
            Path(args.model),
            Path(args.blessing),
            serving_url=args.serving_url,
            timeout_s=args.timeout,
            tf_serving_root=args.tf_serving_root,
        )
    finally:  # a push that rolled itself back after a failed smoke test is history too
        record_serving_history(cfg, roots)
