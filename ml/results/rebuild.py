"""Recreate a pipeline's results store from the artifacts on disk (span folders, evaluations)."""

from __future__ import annotations

import sqlalchemy as sa

from ml.atomic import read_json
from ml.config import PipelineConfig
from ml.results import schema as t
from ml.results.record import record_evaluation, record_monitor, record_serving, record_span
from ml.results.store import ResultsStore
from ml.roots import Roots
from ml.spans import SpanPaths


def _clear(conn, pipeline: str) -> None:
    for table in t.TABLES:
        conn.execute(sa.delete(table).where(table.c.pipeline == pipeline))


def rebuild(store: ResultsStore, cfg: PipelineConfig, roots: Roots, serving_events: list[dict]) -> dict:
    """Drop the pipeline's rows, then record every span, evaluation and serving event again."""
    paths = SpanPaths(cfg, roots)
    store.write(_clear, cfg.name)
    span_root = paths.spans_root
    spans = (
        sorted(p.name for p in span_root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if span_root.is_dir()
        else []
    )
    recorded = [s for s in spans if record_span(store, cfg, roots, s) is not None]
    evaluations_root = paths.evaluations_root()
    evaluations = (
        sorted(p for p in evaluations_root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if evaluations_root.is_dir()
        else []
    )
    models = [e.name for e in evaluations if record_evaluation(store, cfg, e) is not None]
    monitored = paths.monitor_files()
    for monitor_file in monitored:
        record_monitor(store, read_json(monitor_file))
    return {
        "spans": len(recorded),
        "models": len(models),
        "monitor_runs": len(monitored),
        "serving_events": record_serving(store, cfg, serving_events),
        "url": store.url,
    }
