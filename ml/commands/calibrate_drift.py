"""`calibrate-drift --from D --to D [--window K] [--json]`: drift distances over a span range."""

from __future__ import annotations

import argparse

from ml.config import PipelineConfig
from ml.roots import Roots
from ml.table import render_table

HELP = (
    "run the drift check of every landed span in a range against its baseline (the same code as "
    "validate) and print, per feature, the distance distribution, the alarm rate and the spans that fire"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="first", required=True, help="first span")
    parser.add_argument("--to", dest="last", required=True, help="last span")
    parser.add_argument("--window", type=int, help="baseline window in spans (checks.drift.baseline.window)")
    parser.add_argument("--json", action="store_true", help="print the JSON result instead of a table")


def table(result: dict) -> str:
    rows = [
        [
            feature,
            s["comparator"],
            s["threshold"],
            s["p50"],
            s["p90"],
            s["p98"],
            f"{s['max']} ({s['max_span']})",
            f"{s['alarms']}/{s['pairs']} ({s['alarm_rate']:.1%})",
            s["suggested_threshold"],
            " ".join(s["firing"][:8]) + (" ..." if len(s["firing"]) > 8 else ""),
        ]
        for feature, s in result["features"].items()
    ]
    head = [
        "feature",
        "comparator",
        "threshold",
        "p50",
        "p90",
        "p98",
        "max",
        "alarms",
        "2% at",
        "firing spans",
    ]
    title = (
        f"drift of {result['pipeline']} {result['from']}..{result['to']}: {result['compared']} of "
        f"{result['spans']} spans compared, baseline window {result['window']}"
    )
    return f"{title}\n{render_table(head, rows)}"


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> dict:
    from ml.data.calibrate import calibrate

    result = calibrate(cfg, roots, args.first, args.last, window=args.window)
    return {"command": "calibrate-drift", **result, **({} if args.json else {"text": table(result)})}
