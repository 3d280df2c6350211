"""The blessing (`E/blessing.json`) and the infra blessing (`M/infra_blessing.json`), typed.

What `evaluate` and `infra-validate` write, what `push`, the results store, the reports and the
promotion read: one pydantic model each, with `read`/`write` and a one-line `summary`. Fields
marked `detail` stay in the file but out of the step's result (the CLI's stdout, the task's
XCom), which carries the verdict and the numbers, not every file path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ml.artifact import DETAIL, Artifact, num


def _num(value: float | None) -> str:
    return num(value)


MetricValues = dict[str, float | None]  # {metric key: value}; None: undefined (one class)


class GateCheck(BaseModel):
    """One check of the gate (ml.model.gate): TFMA's thresholds and what TFMA does not know."""

    check: str  # e.g. "auc on Overall", "auc vs benchmark", "robustness probe"
    passed: bool
    blocking: bool  # a failed blocking check withholds the blessing; the others warn
    message: str
    tfma: bool = False  # judged by TFMA's own thresholds (else here, beside TFMA)


class ModelRef(BaseModel):
    """The model a candidate was compared with: its SavedModel and, when served, its version."""

    path: str
    version: int | None = None
    kind: str | None = None  # the benchmark's kind ("logistic regression")


class Blessing(Artifact):
    """The verdict of one evaluation: blessed or not, which check decided, and the numbers."""

    blessed: bool  # every blocking check passed: the model may be pushed
    decided_by: str | None = None  # the first failed blocking check (None: blessed)
    reason: str | None = None  # that check's message, or "every check passed"
    warnings: list[str] = []  # failed non-blocking checks
    checks: list[GateCheck] = []  # every check of the gate, in the order judged
    undefined_metrics: list[str] = []  # metrics the eval data cannot define (one class: AUC)
    model_dir: str  # the model judged (M)
    saved_model: str | None = Field(None, json_schema_extra=DETAIL)  # M/saved_model
    saved_model_digest: str | None = Field(None, json_schema_extra=DETAIL)  # push checks it
    baseline: ModelRef | None = None  # the served model compared with (None: thresholds only)
    benchmark: ModelRef | None = None  # the logistic regression the candidate must beat
    spans: list[str] = []  # the eval spans
    judged_split: str = "eval"  # the split judged: test (split.test_percent), else eval
    eval_files: list[str] = Field(
        [], json_schema_extra=DETAIL
    )  # the eval examples (push smoke-tests on them)
    thresholds: dict[str, float] = Field({}, json_schema_extra=DETAIL)  # evaluation.thresholds
    failing_metric: str | None = None  # the first failed TFMA threshold: its metric
    failing_slice: str | None = None  # and its slice
    failures: list[dict[str, Any]] = Field([], json_schema_extra=DETAIL)  # TFMA's failed thresholds
    ignored_failures: list[dict[str, Any]] = Field([], json_schema_extra=DETAIL)  # too small to decide
    tfma_validation_ok: bool | None = Field(None, json_schema_extra=DETAIL)  # TFMA's own record
    beside_tfma: list[str] = Field([], json_schema_extra=DETAIL)  # checks TFMA does not know
    candidate: MetricValues = {}  # overall metrics of each model
    baseline_metrics: MetricValues | None = None
    benchmark_metrics: MetricValues | None = None
    diff: MetricValues | None = None  # candidate - baseline
    side_by_side: dict[str, dict[str, float | None]] = {}  # {metric: {candidate, benchmark, served}}
    auc_by_slice: dict[str, float | None] = {}
    example_count_by_slice: dict[str, int] = {}
    too_small: dict[str, str] = {}  # slices below evaluation.min_slice_size: why they never decide
    gaps: list[dict[str, Any]] = []  # error-rate gaps between the slices of a column
    robustness: dict[str, Any] = {}  # the probe: inputs, edge cases, failures (first 10)
    sharp_changes: list[dict[str, Any]] = []  # where the score jumps along one feature
    evaluation_dir: str | None = None  # E
    tfma_dir: str | None = Field(None, json_schema_extra=DETAIL)  # E/tfma
    analysis: str | None = Field(None, json_schema_extra=DETAIL)  # E/analysis.json
    evaluated_at: str | None = Field(None, json_schema_extra=DETAIL)  # UTC, ISO 8601

    @property
    def refusal(self) -> str:
        """Why it is not blessed, in words (older blessings: the first failed threshold)."""
        return self.reason or f"{self.failing_metric} failed on slice {self.failing_slice}"

    @property
    def baseline_version(self) -> int | None:
        return self.baseline.version if self.baseline else None

    def summary(self) -> str:
        """`evaluated r1: auc 0.901 vs baseline 0.900, benchmark 0.900; 3 slice(s) too small to
        decide; blessed` (or `NOT blessed by <check>: <why>`)."""
        line = f"evaluated {Path(self.model_dir).name}: auc {_num(self.candidate.get('auc'))}"
        line += " on the held-out test split" if self.judged_split == "test" else ""
        if (base := (self.baseline_metrics or {}).get("auc")) is not None:
            line += f" vs baseline {_num(base)}"
        if (bench := (self.benchmark_metrics or {}).get("auc")) is not None:
            line += f", benchmark {_num(bench)}"
        if self.too_small:
            line += f"; {len(self.too_small)} slice(s) too small to decide"
        if self.blessed:
            return line + "; blessed"
        if self.reason:
            return line + f"; NOT blessed by {self.decided_by}: {self.reason}"
        decided = f" by {self.failing_metric} on {self.failing_slice}" if self.failing_metric else ""
        return line + "; NOT blessed" + decided


class InfraBlessing(Artifact):
    """The model loaded and answered in a fresh process (ml.model.probe), before any push."""

    passed: bool  # loaded and answered: push may go on
    error: str | None = None  # why it failed
    examples: int | None = None  # eval examples sent through the serving signatures
    signatures: list[str] = []
    max_abs_diff: float | None = None  # between the signatures' answers to the same examples
    predictions: list[float] = Field([], json_schema_extra=DETAIL)  # the answers, for the record
    saved_model: str | None = None
    saved_model_digest: str | None = None
    probe_examples_from: list[str] = Field([], json_schema_extra=DETAIL)

    def summary(self) -> str:
        """`<SavedModel>: loads and answers in a fresh process` (or why it does not)."""
        if self.passed:
            return f"{self.saved_model}: loads and answers in a fresh process"
        return f"{self.saved_model}: infra validation failed: {self.error}"
