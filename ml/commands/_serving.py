"""After a push or a rollback: the serving history goes into the results store."""

from __future__ import annotations

from ml.config import PipelineConfig
from ml.results import open_store
from ml.results.record import record_serving
from ml.roots import Roots
from ml.serving.history import serving_events
from ml.serving.layout import ServingLayout


def record_serving_history(cfg: PipelineConfig, roots: Roots) -> int:
    return record_serving(open_store(cfg, roots), cfg, serving_events(ServingLayout.of(cfg, roots)))
