"""Span ids (daily `YYYY-MM-DD` partitions) and the paths derived from them."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from ml.config import PipelineConfig
from ml.errors import PipelineError
from ml.roots import Roots

_SPAN_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def parse_span(span: str) -> str:
    """Validate a span id; rejects anything that is not a real `YYYY-MM-DD` date (e.g. `../../etc`)."""
    text = str(span).strip()
    if not _SPAN_RE.match(text):
        raise PipelineError(f"span id {span!r} is not a YYYY-MM-DD date", span=str(span), rule="span-format")
    try:
        dt.date.fromisoformat(text)
    except ValueError as exc:
        raise PipelineError(
            f"span id {span!r} is not a valid date: {exc}", span=text, rule="span-format"
        ) from None
    return text


def parse_run_id(run_id: str) -> str:
    """Validate a run id used as a folder name (letters, digits, `._-`; no leading dot)."""
    text = str(run_id).strip()
    if not _RUN_ID_RE.match(text):
        raise PipelineError(
            f"run id {run_id!r} must be 1-100 letters, digits, '.', '_' or '-' "
            "and start with a letter or digit",
            rule="run-id-format",
        )
    return text


def span_range(start: str, end: str) -> list[str]:
    """Inclusive list of daily span ids."""
    first, last = dt.date.fromisoformat(parse_span(start)), dt.date.fromisoformat(parse_span(end))
    if last < first:
        raise PipelineError(f"span range ends ({end}) before it starts ({start})", rule="span-range")
    return [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def previous_day(span: str) -> str:
    return (dt.date.fromisoformat(parse_span(span)) - dt.timedelta(days=1)).isoformat()


def previous_spans(cfg: PipelineConfig, span: str, count: int) -> list[str]:
    """Up to `count` spans before `span` in the pipeline's cadence, nearest first, never before
    `span.start`."""
    day = dt.date.fromisoformat(parse_span(span))
    first = dt.date.fromisoformat(cfg.span_start)
    return [
        (day - dt.timedelta(days=i)).isoformat()
        for i in range(1, count + 1)
        if day - dt.timedelta(days=i) >= first
    ]


class SpanPaths:
    """All paths of one pipeline; span-specific ones take a validated span id."""

    def __init__(self, cfg: PipelineConfig, roots: Roots) -> None:
        self.cfg, self.roots = cfg, roots

    # -- landing zone (written by the upstream system)
    def landing_dir(self, span: str) -> Path:
        return self.roots.data / self.cfg.landing_folder / f"span={parse_span(span)}"

    def serving_log_dir(self, span: str) -> Path:
        return self.roots.data / self.cfg.serving_log_folder / f"span={parse_span(span)}"

    # -- artifacts
    @property
    def pipeline_root(self) -> Path:
        return self.roots.artifacts / self.cfg.name

    def span_dir(self, span: str) -> Path:
        return self.pipeline_root / "spans" / parse_span(span)

    def examples_dir(self, span: str) -> Path:
        return self.span_dir(span) / "examples"

    def split_files(self, span: str, split: str) -> list[Path]:
        """The span's ingested gzipped tf.Example shards of one split (`train` | `eval`)."""
        return sorted((self.examples_dir(span) / split).glob("*.tfrecord.gz"))

    def ingest_summary(self, span: str) -> Path:
        return self.examples_dir(span) / "summary.json"

    def ingest_failure_file(self, span: str) -> Path:
        """The failure report of the span's last ingest (removed again by a successful one)."""
        return self.span_dir(span) / "ingest_failure.json"

    def timings_file(self, span: str) -> Path:
        """Seconds each step took on the span (`{"ingest": s, "validate": s}`)."""
        return self.span_dir(span) / "timings.json"

    def validation_dir(self, span: str) -> Path:
        return self.span_dir(span) / "validation"

    def stats_file(self, span: str) -> Path:
        return self.validation_dir(span) / "stats.tfrecord"

    def verdict_file(self, span: str) -> Path:
        return self.validation_dir(span) / "verdict.json"

    def anomalies_file(self, span: str) -> Path:
        """TFDV Anomalies proto (text) of every TFDV check of the span."""
        return self.validation_dir(span) / "anomalies.pbtxt"

    def baseline_stats_file(self, span: str) -> Path:
        """Statistics of the span's drift baseline (the spans it was compared with)."""
        return self.validation_dir(span) / "baseline_stats.tfrecord"

    def serving_stats_file(self, span: str) -> Path:
        return self.validation_dir(span) / "serving_stats.tfrecord"

    def data_docs_index(self, span: str) -> Path:
        """Great Expectations Data Docs of the raw span."""
        return self.validation_dir(span) / "data_docs" / "index.html"

    def stats_html(self, span: str, against: str | None = None) -> Path:
        if against == "baseline":
            return self.validation_dir(span) / "stats_vs_baseline.html"
        name = f"stats_vs_{parse_span(against)}.html" if against else "stats.html"
        return self.validation_dir(span) / name

    def ingested_spans(self) -> list[str]:
        """Spans with a complete ingest (summary written last, inside the atomic rename)."""
        root = self.pipeline_root / "spans"
        if not root.is_dir():
            return []
        return sorted(
            p.parent.parent.name
            for p in root.glob("*/examples/summary.json")
            if _SPAN_RE.match(p.parent.parent.name)
        )

    def validated_spans(self) -> list[str]:
        root = self.pipeline_root / "spans"
        if not root.is_dir():
            return []
        return sorted(
            p.parent.parent.name
            for p in root.glob("*/validation/stats.tfrecord")
            if _SPAN_RE.match(p.parent.parent.name)
        )

    def transforms_root(self) -> Path:
        return self.pipeline_root / "transforms"

    def transform_dir(self, run_id: str) -> Path:
        return self.transforms_root() / parse_run_id(run_id)

    def models_root(self) -> Path:
        return self.pipeline_root / "models"

    def model_dir(self, run_id: str) -> Path:
        return self.models_root() / parse_run_id(run_id)

    def evaluations_root(self) -> Path:
        return self.pipeline_root / "evaluations"

    def evaluation_dir(self, run_id: str) -> Path:
        return self.evaluations_root() / parse_run_id(run_id)

    def serving_model_dir(self) -> Path:
        return self.roots.serving / self.cfg.model_name
