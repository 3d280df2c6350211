"""`prediction-logger --upstream URL [--port 8511]`: the prediction-logging service in front of TF
Serving's REST API (ml/serving/logging_proxy.py): same URLs, every :predict logged per span."""

from __future__ import annotations

import argparse

from ml.config import PipelineConfig
from ml.roots import Roots

HELP = (
    "serve TF Serving's REST API through a proxy that logs every prediction as PredictionLog "
    "records per span (request ids from X-Request-Id), for the live model's monitoring"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--upstream", required=True, help="TF Serving's REST API, e.g. http://tf-serving:8501"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, default=8511, help="port to listen on (default 8511)")
    parser.add_argument(
        "--close-after-s",
        type=float,
        default=300.0,
        help="close (compact + _SUCCESS) a span's log this long after the span ended (default 300)",
    )
    parser.add_argument("--fsync", action="store_true", help="fsync each batch file (survives a host crash)")


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> dict:
    from ml.serving.logging_proxy import create_app, serve

    app = create_app(cfg, roots, args.upstream, close_after_s=args.close_after_s, fsync=args.fsync)
    serve(app, args.host, args.port)
    return {"command": "prediction-logger", "stopped": True}
