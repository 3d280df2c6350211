"""One line in plain words per step result, for task logs and the CLI's stderr.

`summary(result)` picks the function for `result["command"]`; each takes the command's result
dict (as printed by the CLI) and never fails: a missing key just leaves its part out, e.g.
`span 2013-01-08: 894 rows -> 716 train / 178 eval; 11 dropped (arr_delay_missing)` or
`span 2013-01-08: GE 43/43 passed; schema: 0 anomalies; drift: max dep_delay jsd 0.21 < 0.50
(baseline 2013-01-07); skew: max carrier linf 0.02 < 0.10; passed`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ml.data.schema import short_name


def _num(value: Any, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "?"


def ingest_summary(result: dict[str, Any]) -> str:
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
    return f"max {name} {kind} {_num(m['value'])} {op} {_num(m.get('threshold'))}"


def validate_summary(result: dict[str, Any]) -> str:
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


def transform_summary(result: dict[str, Any]) -> str:
    spans = result.get("spans_used") or result.get("spans") or []
    rows = result.get("rows") or {}
    line = f"transform {result.get('run_id', '')}: {len(spans)} span(s)"
    if spans:
        line += f" {spans[0]}..{spans[-1]}"
    if isinstance(rows, dict) and rows:
        line += f"; {rows.get('train', '?')} train / {rows.get('eval', '?')} eval rows"
    missing, skipped = result.get("spans_missing") or [], result.get("spans_skipped") or []
    if missing or skipped:
        line += f"; {len(missing)} missing, {len(skipped)} skipped"
    return line


def train_summary(result: dict[str, Any]) -> str:
    metrics = result.get("eval_metrics") or {}
    shown = ", ".join(f"{k} {_num(v, 3)}" for k, v in sorted(metrics.items()) if isinstance(v, int | float))
    line = f"trained {Path(str(result.get('model_dir', ''))).name}: {result.get('epochs', '?')} epoch(s)"
    line += f" on {result.get('device', '?')}"
    return line + (f"; eval {shown}" if shown else "")


def evaluate_summary(result: dict[str, Any]) -> str:
    from ml.model.blessing import Blessing

    return Blessing.model_validate(result).summary()


def push_summary(result: dict[str, Any]) -> str:
    if result.get("pushed") is False:
        return f"push skipped: {result.get('reason', 'not blessed')}"
    line = f"pushed version {result.get('version', '?')}"
    if result.get("live_version") is not None:
        line += f"; live version {result['live_version']}"
    return line


def serve_span_summary(result: dict[str, Any]) -> str:
    answered = result.get("answered") or {}
    versions = result.get("versions") or {}
    by = ", ".join(f"{n} by {label} (v{versions.get(label)})" for label, n in answered.items())
    return f"span {result.get('span')}: {result.get('predictions', '?')} predictions logged ({by or 'none'})"


def monitor_summary(result: dict[str, Any]) -> str:
    counts = result.get("counts") or {}
    stage = result.get("stage", "realized")
    line = f"span {result.get('span')} ({stage}): {counts.get('predictions', 0)} predictions"
    if stage == "realized":
        line += f", {counts.get('labelled', 0)} labelled ({_num(100 * (counts.get('coverage') or 0), 0)} %)"
    for label, v in (result.get("by_label") or {}).items():
        band = v.get("band") or [None]
        line += f"; {label}: realized {_num(v.get('realized'), 3)}, estimated {_num(v.get('estimated'), 3)}"
        line += f", band >= {_num(band[0], 3)}"
    if result.get("partial"):
        line += "; partial"
    if result.get("reused"):
        line += f"; nothing new since cutoff {result.get('cutoff')}: that result kept"
    line += "; ALARM" if result.get("alarm") else "; no alarm"
    if result.get("withdrawn"):
        line += f"; withdraws the alarm of cutoff {result['withdrawn']['cutoff']}"
    return line + (f"; {len(result['warnings'])} warning(s)" if result.get("warnings") else "")


def new_pipeline_summary(result: dict[str, Any]) -> str:
    spans = len(result.get("spans") or [])
    line = f"pipeline {result.get('pipeline')}: {result.get('rows', '?')} rows in {spans}"
    line += f" {result.get('cadence', '')} spans; label {result.get('label', '?')}"
    line += f"; {len(result.get('features') or [])} features"
    left = result.get("left_out") or {}
    return line + (f"; left out as features: {', '.join(sorted(left))}" if left else "")


def check_summary(result: dict[str, Any]) -> str:
    notes = result.get("notes") or []
    line = f"pipeline {result.get('pipeline')}: {len(result.get('checked') or [])} checks passed"
    return line + (f"; {len(notes)} note(s): {notes[0]}" if notes else "")


def infra_validate_summary(result: dict[str, Any]) -> str:
    from ml.model.blessing import InfraBlessing

    return f"{InfraBlessing.model_validate(result).summary()} ({result.get('infra_blessing')})"


def serving_status_summary(result: dict[str, Any]) -> str:
    labels = ", ".join(f"{k} -> v{v}" for k, v in sorted((result.get("labels") or {}).items()))
    return (
        f"{result.get('model')}: live version {result.get('live_version')}; loaded "
        f"{result.get('loaded_versions')}; labels {labels or 'none'}"
    )


def ingest_spans_summary(result: dict[str, Any]) -> str:
    line = f"{result.get('landed', '?')} spans: {result.get('passed', 0)} passed"
    line += f", {result.get('failed_count', 0)} failed"
    groups = result.get("failures") or []
    return line + "".join(f"; {g['count']} x {g['reason']}" for g in groups[:3])


def landing_summary(result: dict[str, Any]) -> str:
    where = result.get("data_root")
    return f"{result.get('spans', '?')} spans, {result.get('rows', '?')} rows landed under {where}"


def rollback_summary(result: dict[str, Any]) -> str:
    return f"{result.get('model')}: live version is now {result.get('live_version')}"


def retrain_check_summary(result: dict[str, Any]) -> str:
    decision = "retrain" if result.get("retrain") else "no retrain"
    return f"span {result.get('span')}: {decision}: {result.get('reason')}"


SUMMARIES: dict[str, Callable[[dict[str, Any]], str]] = {
    "new-pipeline": new_pipeline_summary,
    "check": check_summary,
    "infra-validate": infra_validate_summary,
    "serving-status": serving_status_summary,
    "ingest-spans": ingest_spans_summary,
    "landing": landing_summary,
    "rollback": rollback_summary,
    "retrain-check": retrain_check_summary,
    "ingest": ingest_summary,
    "validate": validate_summary,
    "transform": transform_summary,
    "train": train_summary,
    "evaluate": evaluate_summary,
    "push": push_summary,
    "serve-span": serve_span_summary,
    "monitor": monitor_summary,
}


def summary(result: dict[str, Any]) -> str | None:
    """The step's one-line summary, or None for a command without one."""
    func = SUMMARIES.get(str(result.get("command")))
    if func is None:
        return None
    try:
        return func(result)
    except (TypeError, ValueError, KeyError, OSError, AttributeError) as exc:  # never fail a step for a log
        return f"{result.get('command')}: (no summary: {exc})"
