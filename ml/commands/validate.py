"""`validate --span D [--previous SPAN]`: Great Expectations + TFDV schema, drift and skew checks."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ml.artifact import num
from ml.commands._results import run_span_step
from ml.config import PipelineConfig
from ml.data.schema import short_name
from ml.roots import Roots

HELP = (
    "check one raw span: Great Expectations suite, TFDV statistics vs the curated schema, "
    "drift vs the span(s) before it in the cadence, skew vs the serving log"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--span", required=True, help="span id (its format follows span.cadence, e.g. 2013-01-05 or 2013-01)"
    )
    parser.add_argument(
        "--previous",
        metavar="SPAN",
        help="drift baseline span (default: checks.drift.baseline of pipeline.yaml, the span before)",
    )


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> dict:
    from ml.data.validate import validate_span

    result = run_span_step(
        cfg, roots, args.span, "validate", lambda: validate_span(cfg, roots, args.span, args.previous)
    )
    return {"command": "validate", **result}


def _largest(check: dict[str, Any]) -> str:
    """`max dep_delay jsd 0.21 < 0.50` over a check's measurements (feature -> value/threshold)."""
    measured = {
        name: m
        for name, m in (check.get("measurements") or {}).items()
        if isinstance(m.get("value"), int | float)
    }
    if not measured:
        return "no measurement"
    name, m = max(measured.items(), key=lambda kv: kv[1]["value"] / (kv[1].get("threshold") or 1.0))
    kind = short_name(str(m.get("type", "")))
    op = "<" if m["value"] < (m.get("threshold") or float("inf")) else ">="
    return f"max {name} {kind} {num(m['value'], 2)} {op} {num(m.get('threshold'), 2)}"


def summary(result: dict[str, Any]) -> str:
    checks = dict(result.get("checks") or {})
    verdict_file = result.get("verdict_file")
    if verdict_file and Path(verdict_file).is_file():  # the verdict holds the measurements
        checks = json.loads(Path(verdict_file).read_text()).get("checks", checks)
    parts = []
    ge = checks.get("great_expectations") or {}
    if ge.get("ran"):
        total = ge.get("expectations")
        failed = ge.get("anomalies", 0)
        parts.append(f"GE {total - failed}/{total} passed" if total else f"GE {failed} failed")
    schema = checks.get("schema") or {}
    if schema.get("ran"):
        parts.append(f"schema: {schema.get('anomalies', 0)} anomalies")
    for name in ("drift", "skew"):
        check = checks.get(name) or {}
        if not check.get("ran"):
            parts.append(f"{name}: not run")
            continue
        text = f"{name}: {_largest(check)}"
        if name == "drift" and check.get("baseline_span"):
            text += f" (baseline {check['baseline_span']})"
        parts.append(text)
    verdict = "passed" if result.get("passed") else "FAILED"
    warnings = result.get("warnings") or []
    verdict += f" with {len(warnings)} warning(s)" if warnings else ""
    return f"span {result.get('span')}: {'; '.join(parts)}; {verdict}"
