"""What the span steps write and return, typed: the ingest summary (`examples/summary.json`),
the validation verdict (`validation/verdict.json`) and the `validate` result.

Read by the window selection (transform), the drift baseline, the results store and the task
log's summary line through these models, never as dicts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from ml.artifact import Artifact, num
from ml.data.schema import short_name

SPLIT_NAMES = ("train", "eval")


class IngestSummary(Artifact):
    """One ingested span: rows in, dropped and imputed by rule, rows out per split."""

    span: str
    rows_in: int
    rows_out: dict[str, int] = {}  # {train|eval: examples written}
    pipeline: str | None = None
    files: list[str] = []  # the landing files read
    rows_dropped: dict[str, int] = {}  # {rule: rows}, e.g. arr_delay_missing
    values_imputed: dict[str, int] = {}  # {column: values}
    label_positive_rate: float | None = None
    positives: dict[str, int] | None = None  # {split: positive labels}; None: ingested before counted
    examples_dir: str | None = None  # in the step's result only (the folder holding this file)

    def summary(self) -> str:
        """`span 2013-01-08: 894 rows -> 716 train / 178 eval; 11 dropped (arr_delay_missing)`."""
        line = f"span {self.span}: {self.rows_in} rows"
        line += f" -> {self.rows_out.get('train', 0)} train / {self.rows_out.get('eval', 0)} eval"
        dropped = {k: v for k, v in self.rows_dropped.items() if v}
        if dropped:
            line += f"; {sum(dropped.values())} dropped ({', '.join(sorted(dropped))})"
        if self.values_imputed:
            line += f"; {sum(self.values_imputed.values())} values imputed"
        return line


class CheckBrief(BaseModel):
    """One check (great_expectations, schema, drift, skew): did it run, pass, how many anomalies."""

    ran: bool = False
    passed: bool = True
    anomalies: int = 0
    severity: str | None = None  # error (blocks the span) | warn


class CheckSummary(CheckBrief):
    """One check of a verdict and what it measured."""

    model_config = ConfigDict(extra="allow")  # each check keeps its own details

    expectations: int | None = None  # great_expectations: how many were evaluated
    baseline_span: str | None = None  # drift: the span compared with
    baseline_reason: str | None = None
    measurements: dict[str, dict[str, Any]] = {}  # drift/skew: {feature: {type, value, threshold}}
    results: list[dict[str, Any]] = []  # great_expectations: one row per expectation

    def largest(self) -> str:
        """`max dep_delay jsd 0.21 < 0.50`: the measurement nearest its threshold."""
        measured = {n: m for n, m in self.measurements.items() if isinstance(m.get("value"), int | float)}
        if not measured:
            return "no measurement"
        name, m = max(measured.items(), key=lambda kv: kv[1]["value"] / (kv[1].get("threshold") or 1.0))
        op = "<" if m["value"] < (m.get("threshold") or float("inf")) else ">="
        kind = short_name(str(m.get("type", "")))
        return f"max {name} {kind} {num(m['value'], 2)} {op} {num(m.get('threshold'), 2)}"


class SpanVerdict(Artifact):
    """The validation verdict of one span: passed or not, and every check's outcome."""

    passed: bool
    span: str | None = None  # None: a hand-written verdict (its flag only)
    pipeline: str | None = None
    rows: int | None = None
    files: list[str] = []
    blocking: int = 0  # blocking anomalies
    warnings: int = 0  # anomalies that only warn
    checks: dict[str, CheckSummary] = {}  # great_expectations, schema, drift, skew
    anomalies: list[dict[str, Any]] = []  # every anomaly found (check, feature, kind, severity)

    def check(self, name: str) -> CheckSummary:
        return self.checks.get(name) or CheckSummary()

    def checks_line(self) -> str:
        """`GE 43/43 passed; schema: 0 anomalies; drift: max dep_delay jsd 0.21 < 0.50
        (baseline 2013-01-07); skew: max carrier linf 0.02 < 0.10`."""
        parts = []
        ge = self.check("great_expectations")
        if ge.ran:
            total, failed = ge.expectations, ge.anomalies
            parts.append(f"GE {total - failed}/{total} passed" if total else f"GE {failed} failed")
        if self.check("schema").ran:
            parts.append(f"schema: {self.check('schema').anomalies} anomalies")
        for name in ("drift", "skew"):
            check = self.check(name)
            if not check.ran:
                parts.append(f"{name}: not run")
                continue
            text = f"{name}: {check.largest()}"
            if name == "drift" and check.baseline_span:
                text += f" (baseline {check.baseline_span})"
            parts.append(text)
        return "; ".join(parts)


class ValidateResult(Artifact):
    """The `validate` result of a passed span (a failed one is a DataError): counts and reports."""

    span: str
    passed: bool
    rows: int | None = None
    anomalies: int = 0  # warnings found (a passed span has no blocking one)
    warnings: list[str] = []  # each in words
    checks: dict[str, CheckBrief] = {}  # great_expectations, schema, drift, skew
    baseline_span: str | None = None  # the drift baseline
    baseline_spans: list[str] = []
    baseline_reason: str | None = None
    baseline_stats_file: str | None = None
    stats_file: str
    serving_stats_file: str | None = None
    anomalies_file: str
    verdict_file: str
    data_docs: str  # Great Expectations' Data Docs page
    stats_html: str  # TFDV's statistics view

    def summary(self) -> str:
        """`span 2013-01-08: GE 43/43 passed; schema: 0 anomalies; drift: ...; passed`."""
        path = Path(self.verdict_file)
        checks = SpanVerdict.read(path).checks_line() if path.is_file() else "checks not recorded"
        verdict = "passed" if self.passed else "FAILED"
        verdict += f" with {len(self.warnings)} warning(s)" if self.warnings else ""
        return f"span {self.span}: {checks}; {verdict}"
