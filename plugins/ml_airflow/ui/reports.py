"""What reports a span / a training run left on disk, as host-relative URLs for the pages.

Only looks at file names under the artifact root (no parsing of results): the ML view's grid
takes its numbers from `ml.results`; this is the map of where each report lives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ml.model.layout import EvaluationLayout
from ml.spans import SpanPaths, is_span

# (label, where the layout keeps it) of each per-span report, in display order
SPAN_REPORTS: tuple[tuple[str, Callable[[SpanPaths, str], Path]], ...] = (
    ("ingest summary", SpanPaths.ingest_summary),
    ("ingest failure", SpanPaths.ingest_failure_file),
    ("verdict", SpanPaths.verdict_file),
    ("Data Docs", SpanPaths.data_docs_index),
    ("anomalies", SpanPaths.anomalies_file),
)


@dataclass(frozen=True)
class Report:
    label: str
    url: str


def under(paths: SpanPaths, path: Path) -> str:
    """`path` relative to the pipeline's artifact folder (the ML view's URLs and file routes)."""
    root = paths.pipeline_root
    return path.relative_to(root if path.is_relative_to(root) else root.resolve()).as_posix()


def span_ids(paths: SpanPaths) -> list[str]:
    spans = paths.spans_root
    if not spans.is_dir():
        return []
    return sorted(p.name for p in spans.iterdir() if p.is_dir() and is_span(paths.cfg, p.name))


def span_reports(base: str, paths: SpanPaths, span: str) -> list[Report]:
    """Reports of one span that exist, with `base` = the pipeline's ML view URL."""
    found = [
        Report(label, f"{base}/{under(paths, where(paths, span))}")
        for label, where in SPAN_REPORTS
        if where(paths, span).is_file()
    ]
    if paths.stats_file(span).is_file():
        found.insert(3, Report("statistics", f"{base}/stats/{span}"))
    return found


def evaluation_runs(paths: SpanPaths) -> list[str]:
    root = paths.evaluations_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if EvaluationLayout(p).metrics.is_file())
