"""What a DAG run works on: its span and its run-specific folders (exposed as template macros)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ml.config import load_pipeline
from ml.errors import PipelineError
from ml.roots import Roots
from ml.spans import SpanPaths, parse_run_id, parse_span

SPAN_PARAM = "span"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def run_span(
    explicit: str | None,
    anchor: dt.datetime | None,
    offset_days: int = 0,
    dag_run: Any = None,
    pipeline: str | None = None,
) -> str:
    """The span a run works on: the `span` param/conf when given, else the anchor's date + offset.

    Ingest runs anchor on `data_interval_start` (the day they cover). Scheduled train runs anchor
    on their logical date with offset -1: the last complete span before the run. A manual run
    of `pipeline` without a span takes the newest landed span that has no successful run yet
    (ml_airflow.manual_span), or fails at once saying how to pass one; so does one without a
    logical date when no pipeline is given.
    """
    if explicit:
        return parse_span(str(explicit))
    if pipeline and str(getattr(dag_run, "run_type", "")).lower().endswith("manual"):
        from ml_airflow.manual_span import newest_unfinished_span

        return newest_unfinished_span(pipeline)
    if anchor is None:
        raise PipelineError(
            "this run has no data interval (manual run without a logical date): "
            'pass the span, e.g. --conf \'{"span": "2013-01-14"}\'',
            rule="span-missing",
        )
    return (anchor.date() + dt.timedelta(days=offset_days)).isoformat()


def run_slug(run_id: str) -> str:
    """A folder-safe run id: `manual__2013-01-14T00:00:00+00:00` -> `manual__2013-01-14T00_00_00_00_00`."""
    return parse_run_id(_UNSAFE.sub("_", str(run_id)).lstrip("._-")[:100])


def model_dir(pipeline: str, run_id: str) -> str:
    """Where this run's trained model goes: `<artifact_root>/<pipeline>/models/<run slug>`."""
    return str(SpanPaths(load_pipeline(pipeline), Roots.resolve()).model_dir(run_slug(run_id)))


# Available in every templated field of the pipeline DAGs (DAG(user_defined_macros=MACROS)).
MACROS = {"ml_span": run_span, "ml_run_slug": run_slug, "ml_model_dir": model_dir}
