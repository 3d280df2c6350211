"""What reports a span / a training run left on disk, as host-relative URLs for the pages.

Only looks at file names under the artifact root (no parsing of results): the ML view's grid
takes its numbers from `ml.results`; this is the map of where each report lives.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ml.config import PipelineConfig
from ml.spans import is_span

# (label, path under spans/<span>/) of each per-span report, in display order
SPAN_REPORTS = (
    ("ingest summary", "examples/summary.json"),
    ("ingest failure", "ingest_failure.json"),
    ("verdict", "validation/verdict.json"),
    ("Data Docs", "validation/data_docs/index.html"),
    ("anomalies", "validation/anomalies.pbtxt"),
)


@dataclass(frozen=True)
class Report:
    label: str
    url: str


def span_ids(cfg: PipelineConfig, pipeline_root: Path) -> list[str]:
    spans = pipeline_root / "spans"
    if not spans.is_dir():
        return []
    return sorted(p.name for p in spans.iterdir() if p.is_dir() and is_span(cfg, p.name))


def span_reports(base: str, pipeline_root: Path, span: str) -> list[Report]:
    """Reports of one span that exist, with `base` = the pipeline's ML view URL."""
    folder = pipeline_root / "spans" / span
    found = [
        Report(label, f"{base}/spans/{span}/{rel}") for label, rel in SPAN_REPORTS if (folder / rel).is_file()
    ]
    if (folder / "validation" / "stats.tfrecord").is_file():
        found.insert(3, Report("statistics", f"{base}/stats/{span}"))
    return found


def evaluation_runs(pipeline_root: Path) -> list[str]:
    root = pipeline_root / "evaluations"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "metrics.json").is_file())
