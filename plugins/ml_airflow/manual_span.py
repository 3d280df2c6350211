"""Which span a manual run without `{"span": ...}` works on: the newest landed span that has no
successful run yet (results store status `passed`), or an immediate failure saying how to pass
one. A manual trigger never waits hours for a day that has no data."""

from __future__ import annotations

from ml.config import load_pipeline
from ml.errors import PipelineError
from ml.results import open_store, queries
from ml.roots import Roots
from ml.spans import SpanPaths, first_span


def newest_unfinished_span(pipeline: str, roots: Roots | None = None) -> str:
    cfg = load_pipeline(pipeline)
    roots = roots or Roots.resolve()
    paths = SpanPaths(cfg, roots)
    landed = paths.landed_spans()
    done = {
        row["span"] for row in queries.spans(open_store(cfg, roots), pipeline) if row["status"] == "passed"
    }
    todo = [span for span in landed if span not in done]
    if not todo:
        where = paths.landing_root
        state = (
            f"all {len(landed)} landed span(s) already passed" if landed else f"no span has landed in {where}"
        )
        example = f'{{"span": "{first_span(cfg)}"}}'
        how = f"pass the span in the run's conf, e.g. {example} (Trigger -> Advanced, or --conf)"
        raise PipelineError(f"manual run without a span: {state}; {how}", rule="span-missing")
    return todo[-1]


def newest_unmonitored_span(pipeline: str, roots: Roots | None = None) -> str:
    """The newest span whose prediction log is complete and that was never monitored."""
    cfg = load_pipeline(pipeline)
    roots = roots or Roots.resolve()
    predicted = SpanPaths(cfg, roots).predicted_spans()
    done = {row["span"] for row in queries.monitor_runs(open_store(cfg, roots), pipeline)}
    todo = [span for span in predicted if span not in done]
    if not todo:
        state = (
            f"all {len(predicted)} span(s) with predictions were monitored"
            if predicted
            else "no span has predictions"
        )
        example = f'{{"span": "{first_span(cfg)}"}}'
        raise PipelineError(
            f"manual monitor run without a span: {state}; pass the span in the run's conf, e.g. {example} "
            "(a monitored span is restated by running it again)",
            rule="span-missing",
        )
    return todo[-1]
