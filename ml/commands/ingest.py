"""`ingest --span D`: landing CSV(s) -> train/eval tf.Example TFRecords + summary.json."""

from __future__ import annotations

import argparse
from typing import Any

from ml.commands._results import run_span_step
from ml.config import PipelineConfig
from ml.data.ingest import ingest_span
from ml.roots import Roots

HELP = "ingest one span into train/eval-split gzipped tf.Example TFRecords"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--span", required=True, help="span id (its format follows span.cadence, e.g. 2013-01-05 or 2013-01)"
    )


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> dict:
    result = run_span_step(cfg, roots, args.span, "ingest", lambda: ingest_span(cfg, roots, args.span))
    return {"command": "ingest", **result}


def summary(result: dict[str, Any]) -> str:
    """The one-line summary of this command's result (task log, stderr)."""
    out = result.get("rows_out") or {}
    line = f"span {result.get('span')}: {result.get('rows_in', '?')} rows"
    line += f" -> {out.get('train', 0)} train / {out.get('eval', 0)} eval"
    dropped = {k: v for k, v in (result.get("rows_dropped") or {}).items() if v}
    if dropped:
        line += f"; {sum(dropped.values())} dropped ({', '.join(sorted(dropped))})"
    imputed = result.get("values_imputed") or {}
    if imputed:
        line += f"; {sum(imputed.values())} values imputed"
    return line
