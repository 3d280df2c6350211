"""`monitor --span D`: the live model on one span (join late labels, realized and estimated
performance per version label, alarm bands), recorded in the results store."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from ml.artifact import num
from ml.config import PipelineConfig
from ml.roots import Roots

HELP = (
    "monitor the live model on a span: join its prediction log with the labels landed so far, "
    "realized (TFMA) and estimated (CBPE) performance per version label, alarms; a re-run restates"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--span", required=True, help="the span whose predictions to monitor")
    parser.add_argument(
        "--stage",
        choices=["estimated", "realized"],
        default="realized",
        help="estimated: from the complete prediction log alone, before labels (CBPE; warns, never "
        "alarms); realized: with the labels landed so far (alarms retrain). Default realized",
    )
    parser.add_argument(
        "--as-of",
        type=as_of_time,
        help="judge the span with the labels that had landed and the predictions answered by this "
        "time (ISO 8601, e.g. an earlier run's cutoff: the same numbers again); default now",
    )


def as_of_time(text: str) -> dt.datetime:
    from ml.serving.rest_api import BadRequest, parse_event_time

    try:
        return parse_event_time(text, "--as-of")
    except BadRequest as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> dict:
    from ml.beam import release_shared_objects
    from ml.monitoring.monitor import monitor_span
    from ml.results import open_store
    from ml.results.record import record_monitor
    from ml.results.retrain import performance_decision
    from ml.spans import MONITOR_FILE

    try:
        result = monitor_span(cfg, roots, args.span, args.as_of, stage=args.stage)
    finally:
        release_shared_objects()
    store = open_store(cfg, roots)
    record_monitor(store, result)
    decision = (
        performance_decision(store, cfg, result["span"], result.get("served_drift"))
        if args.stage == "realized"
        else {"retrain": False, "reason": "an estimate before labels never retrains", "end_span": None}
    )
    labels = {
        label: {k: v[k] for k in ("version", "predictions", "labelled", "realized", "estimated", "band")}
        for label, v in result["by_label"].items()
    }
    return {
        "command": "monitor",
        "span": result["span"],
        "stage": result.get("stage", "realized"),
        "cutoff": result["cutoff"],
        "reused": bool(result.get("reused")),
        "partial": result["partial"],
        "counts": result["counts"],
        "by_label": labels,
        "alarm": result["alarm"],
        "alarms": result["alarms"],
        "withdrawn": result.get("withdrawn"),
        "served_drift": result.get("served_drift", []),
        "warnings": result["warnings"],
        "retrain": decision["retrain"],
        "reason": decision["reason"],
        "end_span": decision["end_span"],
        "trigger": decision.get("trigger", "performance"),
        "monitor_file": f"{result['monitor_dir']}/{MONITOR_FILE}",
        "tfma_dir": result["tfma_dir"],
    }


def summary(result: dict[str, Any]) -> str:
    """The one-line summary of this command's result (task log, stderr)."""
    counts = result.get("counts") or {}
    stage = result.get("stage", "realized")
    line = f"span {result.get('span')} ({stage}): {counts.get('predictions', 0)} predictions"
    if stage == "realized":
        line += f", {counts.get('labelled', 0)} labelled ({num(100 * (counts.get('coverage') or 0), 0)} %)"
    for label, v in (result.get("by_label") or {}).items():
        band = v.get("band") or [None]
        line += f"; {label}: realized {num(v.get('realized'), 3)}, estimated {num(v.get('estimated'), 3)}"
        line += f", band >= {num(band[0], 3)}"
    if result.get("partial"):
        line += "; partial"
    if result.get("reused"):
        line += f"; nothing new since cutoff {result.get('cutoff')}: that result kept"
    line += "; ALARM" if result.get("alarm") else "; no alarm"
    if result.get("withdrawn"):
        line += f"; withdraws the alarm of cutoff {result['withdrawn']['cutoff']}"
    return line + (f"; {len(result['warnings'])} warning(s)" if result.get("warnings") else "")
