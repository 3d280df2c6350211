"""Which span a manual run without `{"span": ...}` works on: the newest landed span that has no
successful run yet (results store status `passed`), or an immediate failure saying how to pass
one. A manual trigger never waits hours for a day that has no data."""

from __future__ import annotations

from ml.config import load_pipeline
from ml.errors import PipelineError
from ml.results import open_store, queries
from ml.roots import Roots
from ml.spans import SpanPaths, parse_span

HOW = 'pass the span in the run\'s conf, e.g. {"span": "2013-01-14"} (Trigger -> Advanced, or --conf)'


def landed_spans(paths: SpanPaths) -> list[str]:
    """Spans whose landing folder holds the done marker, oldest first."""
    probe = "2000-01-01"
    prefix = paths.landing_dir(probe).name.removesuffix(probe)  # "span="
    root = paths.landing_dir(probe).parent
    found = []
    for marker in root.glob(f"{prefix}*/{paths.cfg.done_marker}"):
        try:
            found.append(parse_span(marker.parent.name.removeprefix(prefix)))
        except PipelineError:
            continue
    return sorted(found)


def newest_unfinished_span(pipeline: str, roots: Roots | None = None) -> str:
    cfg = load_pipeline(pipeline)
    roots = roots or Roots.resolve()
    paths = SpanPaths(cfg, roots)
    landed = landed_spans(paths)
    done = {
        row["span"] for row in queries.spans(open_store(cfg, roots), pipeline) if row["status"] == "passed"
    }
    todo = [span for span in landed if span not in done]
    if not todo:
        where = paths.landing_dir("2000-01-01").parent
        state = (
            f"all {len(landed)} landed span(s) already passed" if landed else f"no span has landed in {where}"
        )
        raise PipelineError(f"manual run without a span: {state}; {HOW}", rule="span-missing")
    return todo[-1]
