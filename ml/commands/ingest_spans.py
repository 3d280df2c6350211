"""`ingest-spans [--from S] [--to S]`: ingest + validate every landed span, as the ingest DAG does.

Without Airflow: each landed span (done marker present) from S to S, oldest first, through the
same steps and results-store records as `ingest` and `validate`. A span that fails is reported
and the others still run; the exit code is 2 when any failed.
"""

from __future__ import annotations

import argparse

from ml.commands import ingest, validate
from ml.config import PipelineConfig
from ml.errors import PipelineError
from ml.roots import Roots

NAME = "ingest-spans"
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
        raise PipelineError(
            f"no landed span{' in the range' if first or last else ''} for pipeline {cfg.name}",
            rule="span-missing",
        )
    done, failed = [], {}
    for span in spans:
        step = argparse.Namespace(span=span, previous=None)
        try:
            rows = ingest.run(step, cfg, roots)["rows_out"]
            passed = validate.run(step, cfg, roots)["passed"]
            done.append({"span": span, "rows_out": rows, "passed": passed})
        except PipelineError as exc:
            failed[span] = f"{exc.rule}: {exc}"
    return {
        "command": NAME,
        "pipeline": cfg.name,
        "spans": done,
        "failed": failed,
        "exit_code": 2 if failed else 0,
    }
