"""Which spans a span's drift is measured against: a rule on the data, never on run order.

Span D is compared with the span just before it in the pipeline's cadence, or with the trailing
window of the `window` usable spans before it, merged (`checks.drift.baseline.window`). A span is
usable when it landed and its raw data passes ingest's own checks. Whether it does is read from
its ingest outcome (summary or failure report) when that exists; when it does not exist yet,
`missing: compute` runs ingest's checks in memory (same code, no files written) and
`missing: wait` waits for the outcome (up to `wait_timeout_s`). Either way the answer is the
same whatever order the spans are processed in. The baseline statistics are always computed
from the chosen spans' landed files with the same function validate uses for the span itself.
Skipped spans and the reason land in the result (`baseline_reason`); nothing is skipped
silently.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ml.config import PipelineConfig
from ml.config_schema import DriftBaseline
from ml.data.ingest import prepare_examples
from ml.data.raw import read_raw_span
from ml.errors import PipelineError
from ml.roots import Roots
from ml.spans import SpanPaths, previous_spans

POLL_SECONDS = 2.0


def drift_baseline(cfg: PipelineConfig) -> DriftBaseline:
    """`checks.drift.baseline` (its defaults when the pipeline gives none)."""
    return cfg.spec.checks.drift.baseline or DriftBaseline()


@dataclass
class BaselineSpans:
    spans: list[str] = field(default_factory=list)  # nearest first
    files: list[Path] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # span -> why it is not the baseline
    reason: str | None = None

    @property
    def span(self) -> str | None:
        """The nearest baseline span (the one a one-span baseline compares with)."""
        return self.spans[0] if self.spans else None

    def as_dict(self) -> dict:
        return {
            "baseline_span": self.span,
            "baseline_spans": sorted(self.spans),
            "baseline_reason": self.reason,
        }


def _ingest_outcome(paths: SpanPaths, span: str) -> str | None:
    """'ok', or why the span failed ingest, or None while no ingest outcome exists."""
    if paths.ingest_failure_file(span).is_file():
        from ml.artifact import StepFailure

        failure = StepFailure.read(paths.ingest_failure_file(span))
        return f"failed ingest ({failure.rule or 'see its ingest_failure.json'})"
    if paths.ingest_summary(span).is_file():
        return "ok"
    return None


def _checked_in_memory(cfg: PipelineConfig, paths: SpanPaths, span: str) -> tuple[str, list[Path]]:
    """Ingest's own checks on the landed span, nothing written: 'ok' or why it fails."""
    try:
        raw = read_raw_span(cfg, paths.landing_dir(span), span)
        prepare_examples(cfg, raw.frame, span, str(raw.files[0]))
    except PipelineError as exc:
        return f"failed ingest ({exc.rule})", []
    return "ok", raw.files


def _wait_for_outcome(paths: SpanPaths, span: str, spec: DriftBaseline, for_span: str) -> str:
    deadline = time.monotonic() + spec.wait_timeout_s
    while (outcome := _ingest_outcome(paths, span)) is None:
        if time.monotonic() >= deadline:
            raise PipelineError(
                f"drift baseline span {span} has no ingest outcome after {spec.wait_timeout_s:.0f}s "
                "(checks.drift.baseline.missing: wait); ingest it first or use missing: compute",
                span=for_span,
                file=str(paths.ingest_summary(span)),
                rule="drift-baseline-wait",
            )
        time.sleep(POLL_SECONDS)
    return outcome


def usable(cfg: PipelineConfig, paths: SpanPaths, span: str, spec: DriftBaseline, for_span: str) -> str:
    """'ok' when `span` can serve as a baseline, else why not."""
    landed = paths.landing_dir(span) / cfg.done_marker
    if not landed.is_file():
        return "not landed"
    outcome = _ingest_outcome(paths, span)
    if outcome is None:
        outcome = (
            _wait_for_outcome(paths, span, spec, for_span)
            if spec.missing == "wait"
            else _checked_in_memory(cfg, paths, span)[0]
        )
    return outcome


def resolve_baseline(
    cfg: PipelineConfig, roots: Roots, span: str, spec: DriftBaseline | None = None
) -> BaselineSpans:
    """The baseline spans of `span` (see the module docstring), with the files to compute from."""
    spec = spec or drift_baseline(cfg)
    paths = SpanPaths(cfg, roots)
    found = BaselineSpans()
    candidates = previous_spans(cfg, span, spec.window + spec.max_lookback)
    for candidate in candidates:
        if len(found.spans) == spec.window:
            break
        why = usable(cfg, paths, candidate, spec, span)
        if why == "ok":
            found.spans.append(candidate)
        else:
            found.skipped[candidate] = why
    found.files = [f for s in sorted(found.spans) for f in read_raw_span(cfg, paths.landing_dir(s), s).files]
    found.reason = _reason(cfg, span, spec, found, candidates)
    return found


def _reason(
    cfg: PipelineConfig, span: str, spec: DriftBaseline, found: BaselineSpans, candidates: list[str]
) -> str | None:
    skipped = "; ".join(f"{s} {why}" for s, why in sorted(found.skipped.items(), reverse=True))
    if not candidates:
        return f"{span} is the pipeline's first span (span.start {cfg.span_start}): nothing to compare with"
    if not found.spans:
        return f"no usable span among the {len(candidates)} before {span}: {skipped}"
    if len(found.spans) < spec.window:
        return f"window of {spec.window} spans has only {len(found.spans)}" + (
            f": {skipped}" if skipped else ""
        )
    return skipped or None
