"""Glue between the steps and the results store: time a span step, keep its failure report,
record the span's rows afterwards (also when the step failed with a PipelineError)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from ml.artifact import A, StepFailure
from ml.atomic import atomic_write_json, read_json
from ml.config import PipelineConfig
from ml.errors import PipelineError
from ml.roots import Roots
from ml.spans import SpanPaths, parse_span


def _save_timing(paths: SpanPaths, span: str, step: str, seconds: float) -> None:
    path = paths.timings_file(span)
    timings = read_json(path) if path.is_file() else {}
    atomic_write_json(path, {**timings, step: round(seconds, 3)})


@contextlib.contextmanager
def _ingest_failure_report(paths: SpanPaths, span: str) -> Iterator[None]:
    report = paths.ingest_failure_file(span)
    try:
        yield
    except PipelineError as exc:
        StepFailure.of(exc, "ingest", span).write(report)
        raise
    report.unlink(missing_ok=True)


def run_span_step(cfg: PipelineConfig, roots: Roots, span: str, step: str, fn: Callable[[], A]) -> A:
    """Run one span step (`ingest` | `validate`), then record the span in the results store."""
    span = parse_span(cfg, span)
    paths = SpanPaths(cfg, roots)
    started = time.monotonic()
    guard = _ingest_failure_report(paths, span) if step == "ingest" else contextlib.nullcontext()
    try:
        with guard:
            return fn()
    finally:
        from ml.results import open_store  # SQLAlchemy: not needed by `ml train` in its image
        from ml.results.record import record_span

        if paths.span_dir(span).is_dir():
            _save_timing(paths, span, step, time.monotonic() - started)
            record_span(open_store(cfg, roots), cfg, roots, span)
