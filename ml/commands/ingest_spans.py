"""`ingest-spans [--from S] [--to S]`: ingest + validate every landed span, as the ingest DAG does.

Without Airflow: each landed span (done marker present) from S to S, oldest first, through the
same steps and results-store records as `ingest` and `validate`. A span that fails is reported
and the others still run; the exit code is 2 when any failed.
"""

from __future__ import annotations

import argparse
import logging
import re
from typing import Any

from ml.commands import ingest, validate
from ml.config import PipelineConfig
from ml.errors import MissingArtifact, PipelineError
from ml.roots import Roots

log = logging.getLogger(__name__)
NAME = "ingest-spans"
MAX_REASON = 240
NUMBERS = re.compile(r"\d+(?:\.\d+)?")
HELP = "ingest and validate every landed span (optionally only --from..--to), as the ingest DAG does"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="first", help="first span id (default: the first landed one)")
    parser.add_argument("--to", dest="last", help="last span id (default: the last landed one)")


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> dict:
    from ml.spans import SpanPaths, parse_span

    landed = SpanPaths(cfg, roots).landed_spans()
    first = parse_span(cfg, args.first) if args.first else None
    last = parse_span(cfg, args.last) if args.last else None
    spans = [s for s in landed if (first is None or s >= first) and (last is None or s <= last)]
    if not spans:
        raise MissingArtifact(
            f"no landed span{' in the range' if first or last else ''} for pipeline {cfg.name}",
            rule="span-missing",
        )
    done, failed = [], {}
    for span in spans:
        step = argparse.Namespace(span=span, previous=None)
        try:
            rows = ingest.run(step, cfg, roots).rows_out
            passed = validate.run(step, cfg, roots).passed
            done.append({"span": span, "rows_out": rows, "passed": passed})
        except PipelineError as exc:
            failed[span] = first_reason(exc)
            log.warning("span %s failed: %s", span, failed[span])
    return {
        "command": NAME,
        "pipeline": cfg.name,
        "landed": len(spans),
        "passed": len(done),
        "failed_count": len(failed),
        "spans": done,
        "failed": failed,
        "failures": grouped(failed),
        "exit_code": 2 if failed else 0,
    }


def first_reason(exc: PipelineError) -> str:
    """The failure's column, rule and first reason, short: a validation error lists every
    anomaly after its verdict file; the first one says what to fix."""
    text = exc.detail
    if "): " in text:  # `span S has N blocking anomalies ... (verdict: F): a1; a2; ...`
        text = text.split("): ", 1)[1]
    first = text.split("; ")[0]
    where = f"{exc.column} " if exc.column and not first.startswith(exc.column) else ""
    return f"{where}{exc.rule}: {first[:MAX_REASON]}"


def grouped(failed: dict[str, str]) -> list[dict]:
    """The failures grouped by their reason, counts aside (`31 of 31 values` and `30 of 30` are
    one reason), largest group first; each with the first span's own words."""
    groups: dict[str, list[str]] = {}
    for span, reason in failed.items():
        groups.setdefault(NUMBERS.sub("N", reason.replace(span, "<span>")), []).append(span)
    return [
        {"reason": failed[spans[0]], "count": len(spans), "spans": spans}
        for spans in sorted(groups.values(), key=len, reverse=True)
    ]


def summary(result: dict[str, Any]) -> str:
    """The one-line summary of this command's result (task log, stderr)."""
    line = f"{result.get('landed', '?')} spans: {result.get('passed', 0)} passed"
    line += f", {result.get('failed_count', 0)} failed"
    groups = result.get("failures") or []
    return line + "".join(f"; {g['count']} x {g['reason']}" for g in groups[:3])
