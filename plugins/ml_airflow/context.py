"""What a DAG run works on: its span and its run-specific folders (exposed as template macros)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ml.config import load_pipeline
from ml.errors import PipelineError
from ml.roots import Roots
from ml.spans import SpanPaths, first_span, parse_run_id, parse_span, shift_span, span_of

SPAN_PARAM = "span"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def run_span(
    pipeline: str,
    explicit: str | None,
    anchor: dt.datetime | str | None,
    offset: int = 0,
    dag_run: Any = None,
    step: str = "ingest",
) -> str:
    """The span a run of `pipeline` works on: the `span` param/conf when given, else the span of
    the anchor shifted by `offset` spans of the pipeline's cadence (ml.spans).

    Ingest runs are asset partitions: they anchor on the run's `partition_key`, which is the
    span id. Scheduled train runs anchor on their logical date with offset -1: the last
    complete span before the run. A manual run given its `dag_run` with neither takes the
    newest landed span that has no successful run yet (ml_airflow.manual_span; `step="monitor"`:
    the newest span with a complete prediction log and no monitoring), or fails at once
    saying how to pass one; so does any run without an anchor.
    """
    cfg = load_pipeline(pipeline)
    if explicit:
        return parse_span(cfg, str(explicit))
    if isinstance(anchor, str) and anchor:
        return shift_span(cfg, anchor, offset)
    if str(getattr(dag_run, "run_type", "")).lower().endswith("manual"):
        from ml_airflow.manual_span import newest_unfinished_span, newest_unmonitored_span

        return newest_unmonitored_span(pipeline) if step == "monitor" else newest_unfinished_span(pipeline)
    if not anchor:
        raise PipelineError(
            "this run has no partition key and no data interval (a manual run): "
            f'pass the span, e.g. --conf \'{{"span": "{first_span(cfg)}"}}\'',
            rule="span-missing",
        )
    return shift_span(cfg, span_of(cfg, anchor), offset)


def run_slug(run_id: str) -> str:
    """A folder-safe run id: `manual__2013-01-14T00:00:00+00:00` -> `manual__2013-01-14T00_00_00_00_00`."""
    return parse_run_id(_UNSAFE.sub("_", str(run_id)).lstrip("._-")[:100])


def model_dir(pipeline: str, run_id: str) -> str:
    """Where this run's trained model goes: `<artifact_root>/<pipeline>/models/<run slug>`."""
    return str(SpanPaths(load_pipeline(pipeline), Roots.resolve()).model_dir(run_slug(run_id)))


# Available in every templated field of the pipeline DAGs (DAG(user_defined_macros=MACROS)).
MACROS = {"ml_span": run_span, "ml_run_slug": run_slug, "ml_model_dir": model_dir}
