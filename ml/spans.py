"""Span ids and the paths derived from them: the one place that knows a pipeline's cadence.

`span.cadence` in pipeline.yaml (hourly | daily | weekly | monthly, `ml.cadence`) fixes the span
id format (`2013-01-01T05`, `2013-01-01`, the Monday `2013-01-07`, `2013-01`), the landing
layout `<data_root>/<landing folder>/span=<id>/`, the previous spans and the training window.
Every function takes the pipeline's config; nothing else parses a span id.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from ml.cadence import CADENCES, Cadence
from ml.config import PipelineConfig
from ml.errors import ConfigError, PipelineError
from ml.roots import Roots

_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
LANDING_PREFIX = "span="
INGEST_SUMMARY = "summary.json"  # written last inside ingest's atomic rename: the span is ingested
MONITOR_FILE = "monitor.json"
DATA_DOCS_INDEX = "index.html"  # Great Expectations' site layout: its index in the site folder
GE_RESULT = "validation_result.json"  # GE's ExpectationSuiteValidationResult, as JSON, beside it


def cadence(cfg: PipelineConfig) -> Cadence:
    return CADENCES[cfg.span_cadence]


def parse_span(cfg: PipelineConfig, span: str) -> str:
    """Validate a span id of the pipeline's cadence; refuses anything else (e.g. `../../etc`)."""
    text = str(span).strip()
    kind = cadence(cfg)
    try:
        kind.start(text)
    except ValueError as exc:
        raise ConfigError(
            f"span id {span!r} is not a {kind.name} span of pipeline {cfg.name} "
            f"({kind.format}, e.g. {kind.example}): {exc}",
            span=str(span),
            rule="span-format",
        ) from None
    return text


def is_span(cfg: PipelineConfig, text: str) -> bool:
    try:
        return parse_span(cfg, text) == text
    except PipelineError:
        return False


def span_start(cfg: PipelineConfig, span: str) -> dt.datetime:
    """When the span begins (UTC)."""
    return cadence(cfg).start(parse_span(cfg, span))


def span_of(cfg: PipelineConfig, when: dt.datetime | dt.date) -> str:
    """The span holding `when` (a date: its midnight, UTC)."""
    if not isinstance(when, dt.datetime):
        when = dt.datetime.combine(when, dt.time(), dt.UTC)
    return cadence(cfg).span_of(when)


def shift_span(cfg: PipelineConfig, span: str, count: int) -> str:
    """The span `count` spans after `span` (before it when negative)."""
    return cadence(cfg).shift(parse_span(cfg, span), count)


def first_span(cfg: PipelineConfig) -> str:
    """The pipeline's first span (the one holding `span.start`)."""
    return span_of(cfg, dt.date.fromisoformat(cfg.span_start))


def span_range(cfg: PipelineConfig, start: str, end: str) -> list[str]:
    """Inclusive list of span ids from `start` to `end`."""
    first, last = parse_span(cfg, start), parse_span(cfg, end)
    if span_start(cfg, last) < span_start(cfg, first):
        raise PipelineError(f"span range ends ({end}) before it starts ({start})", rule="span-range")
    spans = [first]
    while spans[-1] != last:
        spans.append(cadence(cfg).shift(spans[-1], 1))
    return spans


def window_ending(cfg: PipelineConfig, end: str, size: int) -> list[str]:
    """The `size` spans ending at `end` (inclusive), oldest first, none before the pipeline's
    first span (those can never land)."""
    if size < 1:
        raise ConfigError(f"window must be >= 1 span, got {size}", span=str(end), rule="window-size")
    first = span_start(cfg, first_span(cfg))
    spans = span_range(cfg, shift_span(cfg, end, -(size - 1)), end)
    return [s for s in spans if span_start(cfg, s) >= first] or [parse_span(cfg, end)]


def previous_spans(cfg: PipelineConfig, span: str, count: int) -> list[str]:
    """Up to `count` spans before `span` in the pipeline's cadence, nearest first, never before
    the pipeline's first span."""
    first = span_start(cfg, first_span(cfg))
    before = [shift_span(cfg, span, -i) for i in range(1, count + 1)]
    return [s for s in before if span_start(cfg, s) >= first]


def parse_run_id(run_id: str) -> str:
    """Validate a run id used as a folder name (letters, digits, `._-`; no leading dot)."""
    text = str(run_id).strip()
    if not _RUN_ID_RE.match(text):
        raise ConfigError(
            f"run id {run_id!r} must be 1-100 letters, digits, '.', '_' or '-' "
            "and start with a letter or digit",
            rule="run-id-format",
        )
    return text


def landing_name(cfg: PipelineConfig, span: str) -> str:
    """The landing partition folder of a span: `span=<id>`."""
    return f"{LANDING_PREFIX}{parse_span(cfg, span)}"


def span_of_landing_name(cfg: PipelineConfig, name: str) -> str | None:
    """The span of a landing partition folder name, None when it is not one."""
    text = name.removeprefix(LANDING_PREFIX)
    return text if name.startswith(LANDING_PREFIX) and is_span(cfg, text) else None


class SpanPaths:
    """All paths of one pipeline; span-specific ones take a validated span id."""

    def __init__(self, cfg: PipelineConfig, roots: Roots) -> None:
        self.cfg, self.roots = cfg, roots

    # -- landing zone (written by the upstream system)
    @property
    def landing_root(self) -> Path:
        return self.roots.data / self.cfg.landing_folder

    def landed_spans(self) -> list[str]:
        """Spans whose landing folder holds the done marker, oldest first."""
        found = (
            span_of_landing_name(self.cfg, m.parent.name)
            for m in self.landing_root.glob(f"*/{self.cfg.done_marker}")
        )
        return sorted(s for s in found if s)  # ids of one cadence sort in time order

    def landing_dir(self, span: str) -> Path:
        return self.landing_root / landing_name(self.cfg, span)

    def serving_log_dir(self, span: str) -> Path:
        return self.roots.data / self.cfg.serving_log_folder / landing_name(self.cfg, span)

    # -- the live model (docs/concepts/live-model.md)
    @property
    def predictions_root(self) -> Path:
        return self.roots.data / self.cfg.predictions_folder

    def predictions_dir(self, span: str) -> Path:
        """The span's prediction log: gzipped `PredictionLog` TFRecords, `_SUCCESS` once complete."""
        return self.predictions_root / landing_name(self.cfg, span)

    def predicted_spans(self) -> list[str]:
        """Spans whose prediction log is complete, oldest first."""
        found = (
            span_of_landing_name(self.cfg, m.parent.name) for m in self.predictions_root.glob("*/_SUCCESS")
        )
        return sorted(s for s in found if s)

    def labels_dir(self, span: str) -> Path:
        """Where the span's ground truth lands (`monitoring.labels.folder`, default the landing)."""
        folder = self.cfg.monitoring.labels.folder or self.cfg.landing_folder
        return self.roots.data / folder / landing_name(self.cfg, span)

    @property
    def monitoring_root(self) -> Path:
        return self.pipeline_root / "monitoring"

    def monitor_dir(self, span: str) -> Path:
        """One folder per monitoring of the span: `<span>/<label cutoff>/` (restatements kept)."""
        return self.monitoring_root / parse_span(self.cfg, span)

    def monitor_files(self) -> list[Path]:
        """Every monitoring's result, `<span>/<cutoff>/monitor.json`, in span and cutoff order."""
        return sorted(self.monitoring_root.glob(f"*/*/{MONITOR_FILE}"))

    def label_copies_dir(self, span: str) -> Path:
        """Each label file of the span as it landed (a copy per version), with the ledger."""
        return self.monitor_dir(span) / "labels"

    def label_ledger(self, span: str) -> Path:
        """When each label file (and the done marker) landed: what the monitor knew at a cutoff."""
        return self.label_copies_dir(span) / "arrivals.json"

    # one monitoring: a `<cutoff>/` folder of monitor_dir(span)
    @staticmethod
    def monitor_file(monitoring_dir: Path) -> Path:
        """The result of one monitoring."""
        return monitoring_dir / MONITOR_FILE

    @staticmethod
    def monitor_tfma_dir(monitoring_dir: Path) -> Path:
        """TFMA's output over the joined labelled predictions."""
        return monitoring_dir / "tfma"

    @staticmethod
    def joined_examples_file(monitoring_dir: Path) -> Path:
        """The labelled predictions as tf.Examples (what TFMA read)."""
        return monitoring_dir / "joined.tfrecord.gz"

    @staticmethod
    def served_stats_file(monitoring_dir: Path) -> Path:
        """TFDV statistics of the inputs the model was asked in one monitoring."""
        return monitoring_dir / "served_stats.tfrecord"

    def reference_cache(self, version: int) -> Path:
        """A served version's monitoring reference, kept when its evaluation is gone."""
        return self.monitoring_root / "references" / f"v{version}.json"

    def training_stats_reference(self, version: int) -> Path:
        """TFDV statistics of the spans a served version was trained on (computed once)."""
        return self.monitoring_root / "references" / f"v{version}-training.stats.tfrecord"

    # -- artifacts
    @property
    def pipeline_root(self) -> Path:
        return self.roots.artifacts / self.cfg.name

    @property
    def spans_root(self) -> Path:
        return self.pipeline_root / "spans"

    def span_dir(self, span: str) -> Path:
        return self.spans_root / parse_span(self.cfg, span)

    def examples_dir(self, span: str) -> Path:
        return self.span_dir(span) / "examples"

    def split_files(self, span: str, split: str) -> list[Path]:
        """The span's ingested gzipped tf.Example shards of one split (`train` | `eval`)."""
        return sorted((self.examples_dir(span) / split).glob("*.tfrecord.gz"))

    def ingest_summary(self, span: str) -> Path:
        return self.examples_dir(span) / INGEST_SUMMARY

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
        return self.validation_dir(span) / "data_docs" / DATA_DOCS_INDEX

    def ge_result_file(self, span: str) -> Path:
        """Great Expectations' validation result of the raw span (its JSON form)."""
        return self.validation_dir(span) / "data_docs" / GE_RESULT

    def stats_html(self, span: str, against: str | None = None) -> Path:
        if against == "baseline":
            return self.validation_dir(span) / "stats_vs_baseline.html"
        name = f"stats_vs_{parse_span(self.cfg, against)}.html" if against else "stats.html"
        return self.validation_dir(span) / name

    def ingested_spans(self) -> list[str]:
        """Spans with a complete ingest (summary written last, inside the atomic rename)."""
        root = self.spans_root
        if not root.is_dir():
            return []
        return sorted(
            p.parent.parent.name
            for p in root.glob(f"*/examples/{INGEST_SUMMARY}")
            if is_span(self.cfg, p.parent.parent.name)
        )

    def validated_spans(self) -> list[str]:
        root = self.spans_root
        if not root.is_dir():
            return []
        return sorted(
            p.parent.parent.name
            for p in root.glob("*/validation/stats.tfrecord")
            if is_span(self.cfg, p.parent.parent.name)
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
