"""`monitor --span D`: the live model on one span (join late labels, realized and estimated
performance per version label, alarm bands), recorded in the results store."""

from __future__ import annotations

import argparse
import datetime as dt

from ml.config import PipelineConfig
from ml.monitoring.monitor_result import MonitorResult
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


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> MonitorResult:
    from ml.beam import release_shared_objects
    from ml.monitoring.monitor import monitor_span
    from ml.results import open_store
    from ml.results.record import record_monitor
    from ml.results.retrain import no_retrain_before_labels, performance_decision
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
        else no_retrain_before_labels(result["span"])
    )
    return MonitorResult(
        **{key: result[key] for key in MonitorResult.model_fields if result.get(key) is not None},
        retrain=decision.retrain,
        reason=decision.reason,
        end_span=decision.end_span,
        trigger="served-drift" if decision.trigger == "served-drift" else "performance",
        monitor_file=f"{result['monitor_dir']}/{MONITOR_FILE}",
    )
