"""`prediction-logger --upstream URL [--port 8511]`: the prediction-logging service in front of TF
Serving's REST API (ml/serving/logging_proxy.py): same URLs, every prediction logged per span."""

from __future__ import annotations

import argparse

from ml.config import PipelineConfig, load_pipeline
from ml.roots import Roots

HELP = (
    "serve TF Serving's REST API through a service that logs every :predict, :classify and :regress "
    "as PredictionLog records per span before answering, for the live model's monitoring"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--upstream", required=True, help="TF Serving's REST API, e.g. http://tf-serving:8501"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, default=8511, help="port to listen on (default 8511)")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="PIPELINE",
        help="also log this pipeline's model, each into its own pipeline's log (repeatable)",
    )
    parser.add_argument(
        "--pass-through",
        action="append",
        default=[],
        metavar="MODEL",
        help="forward this model's calls unlogged (counted); any other model is refused with 404",
    )
    parser.add_argument(
        "--max-request-bytes",
        type=int,
        default=32 * 1024 * 1024,
        help="a larger request body is refused with 413 (default 32 MiB)",
    )
    parser.add_argument(
        "--close-after-s",
        type=float,
        default=300.0,
        help="close (compact + _SUCCESS) a span's log this long after the span ended (default 300)",
    )
    parser.add_argument(
        "--fsync", action="store_true", help="fsync each batch file and its folder (survives a host crash)"
    )


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> dict:
    from ml.serving.logging_proxy import create_app, serve

    pipelines = [cfg, *(load_pipeline(name) for name in args.also if name != cfg.name)]
    app = create_app(
        pipelines,
        roots,
        args.upstream,
        close_after_s=args.close_after_s,
        fsync=args.fsync,
        max_request_bytes=args.max_request_bytes,
        pass_through=args.pass_through,
    )
    serve(app, args.host, args.port)
    return {"command": "prediction-logger", "stopped": True}
