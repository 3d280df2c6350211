"""`calibrate-drift`: the drift distances of every span in a range against its baseline.

Each span is compared with its baseline exactly as `validate` does it (ml.data.baseline picks
the spans, ml.data.stats computes the statistics, ml.data.validate.compare measures), so the
alarm rate printed here is the alarm rate validate will have on the same data. Nothing is
written under the artifact root.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from ml.config import PipelineConfig
from ml.data.baseline import drift_baseline, resolve_baseline
from ml.data.raw import read_raw_span
from ml.data.schema import pipeline_schema
from ml.data.stats import compute_statistics, span_columns
from ml.data.validate import compare
from ml.errors import PipelineError
from ml.roots import Roots
from ml.spans import SpanPaths, span_range

MAX_ALARM_RATE = 0.02


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def suggested_threshold(values: list[float], rate: float = MAX_ALARM_RATE) -> float:
    """The smallest threshold at which at most `rate` of the values exceed it."""
    ordered = sorted(values, reverse=True)
    return ordered[min(len(ordered) - 1, int(rate * len(ordered)))]


def feature_summary(values: dict[str, float], comparator: str, threshold: float | None) -> dict:
    series = list(values.values())
    firing = sorted(s for s, v in values.items() if threshold is not None and v > threshold)
    return {
        "comparator": comparator,
        "threshold": threshold,
        "pairs": len(series),
        "p50": round(_quantile(series, 0.5), 4),
        "p90": round(_quantile(series, 0.9), 4),
        "p98": round(_quantile(series, 0.98), 4),
        "max": round(max(series), 4),
        "max_span": max(values, key=values.__getitem__),
        "alarms": len(firing),
        "alarm_rate": round(len(firing) / len(series), 4),
        "suggested_threshold": round(suggested_threshold(series), 4),
        "firing": firing,
    }


def calibrate(cfg: PipelineConfig, roots: Roots, first: str, last: str, *, window: int | None = None) -> dict:
    """Distances of every landed span of `first..last` to its baseline, summarised per feature."""
    changes = {"missing": "compute", **({"window": window} if window else {})}
    spec = drift_baseline(cfg).model_copy(update=changes)
    paths = SpanPaths(cfg, roots)
    schema = pipeline_schema(cfg)
    landed = [s for s in span_range(cfg, first, last) if (paths.landing_dir(s) / cfg.done_marker).is_file()]
    if not landed:
        raise PipelineError(f"no landed span in {first}..{last} under {roots.data}", rule="calibrate-spans")
    distances: dict[str, dict[str, float]] = {}
    comparators: dict[str, str] = {}
    not_compared: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="calibrate-") as tmp:

        def stats_of(files: list[Path], name: str):
            return compute_statistics(files, span_columns(cfg), Path(tmp) / f"{name}.tfrecord", schema=schema)

        for span in landed:
            baseline = resolve_baseline(cfg, roots, span, spec)
            if not baseline.spans:
                not_compared[span] = baseline.reason or "no baseline"
                continue
            files = read_raw_span(cfg, paths.landing_dir(span), span).files
            _, _, measured = compare(
                "drift", cfg, stats_of(files, span), schema, stats_of(baseline.files, f"{span}-baseline")
            )
            for feature, m in measured.items():
                distances.setdefault(feature, {})[span] = m["value"]
                comparators[feature] = m["type"]
    thresholds = {f: next(iter(v.values())) for f, v in cfg.check("drift").thresholds.items()}
    return {
        "pipeline": cfg.name,
        "from": first,
        "to": last,
        "window": spec.window,
        "spans": len(landed),
        "compared": len(landed) - len(not_compared),
        "not_compared": not_compared,
        "max_alarm_rate": MAX_ALARM_RATE,
        "features": {
            f: feature_summary(v, comparators[f], thresholds.get(f)) for f, v in sorted(distances.items())
        },
    }
