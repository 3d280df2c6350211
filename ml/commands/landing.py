"""`landing --from D --to D [--serving-log]`: write demo spans into the landing zone."""

from __future__ import annotations

import argparse
from typing import Any

from ml.config import PipelineConfig, _load_module
from ml.errors import ConfigError
from ml.roots import Roots
from ml.spans import span_range

HELP = "write demo spans into the landing zone as an upstream system would"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="start", required=True, help="first span id (span.cadence)")
    parser.add_argument("--to", dest="end", required=True, help="last span id (inclusive)")
    parser.add_argument(
        "--serving-log",
        action="store_true",
        help="also write a serving-request log per span (skew checks; the requests `serve-span` answers)",
    )


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> dict:
    path = cfg.folder / "landing.py"
    if not path.is_file():
        raise ConfigError(
            f"pipeline {cfg.name} ships no demo landing module", file=str(path), rule="landing-module"
        )
    landing = _load_module(str(path), f"ml_pipeline_landing_{cfg.name}")
    written = landing.write_landing(
        roots.data,
        span_range(cfg, args.start, args.end),
        landing_folder=cfg.landing_folder,
        marker=cfg.done_marker,
        serving_log_folder=cfg.serving_log_folder,
        # the requests carry the ground-truth key: a prediction's request id (ml.monitoring)
        feature_columns=list(dict.fromkeys([*cfg.ground_truth_key, *(f.name for f in cfg.landed_features)])),
        serving_log=args.serving_log,
    )
    return {
        "command": "landing",
        "spans": len(written),
        "rows": sum(w["rows"] for w in written),
        "data_root": str(roots.data),
    }


def summary(result: dict[str, Any]) -> str:
    """The one-line summary of this command's result (task log, stderr)."""
    where = result.get("data_root")
    return f"{result.get('spans', '?')} spans, {result.get('rows', '?')} rows landed under {where}"
