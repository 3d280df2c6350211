"""Has the data changed since we trained? Asked of what the model was actually asked: the inputs
of the span's logged predictions, checked with the project's own data checks (ml/data).

Per span (both monitor stages; no label needed):
- TFDV statistics of the served inputs (the in-memory generators ingest uses), `served_stats.tfrecord`;
- validated against schema.pbtxt in its SERVING environment: unseen categories, missing
  features, out-of-range values, each a TFDV anomaly;
- drift against the answering model's training statistics (the landed spans of its window, as
  its reference lists them; computed once per version), with `checks.drift`'s comparators and
  thresholds (L-infinity, Jensen-Shannon), and a Facets Overview page of served vs training;
- feature skew per example: each logged request joined on its id with the same example as
  ingest prepares it from the span's landing (defaults imputed, derived features), and per
  feature the share of joined examples whose value differs (TFDV's feature-skew method,
  DetectFeatureSkew's match/mismatch counts): a serving path that sends what training never saw.
Everything here warns; a drift of one of `monitoring.served_drift_features` also retrains
(reason `served-drift`, ml.results.retrain).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from ml.atomic import atomic_write_text
from ml.config import PipelineConfig
from ml.data import anomalies as anomaly_util
from ml.data.raw import matching_files
from ml.data.schema import SERVING, environment, pipeline_schema, strip_comparators
from ml.data.stats import (
    ARROW_TYPES,
    compute_statistics,
    serving_columns,
    statistics_html,
    statistics_in_memory,
    stats_options,
    write_statistics,
)
from ml.errors import PipelineError
from ml.spans import SpanPaths

FACETS_FILE = "served_vs_training.html"
SKEW_TOLERANCE = 1e-6  # relative: logged floats are float32
EXAMPLES_KEPT = 3


def _cell(value: Any, kind: str) -> Any:
    """A logged value as the column's type (None when it is not one)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        if kind == "string":
            return value if isinstance(value, str) else str(value)
        number = float(value)
        if kind == "int":
            return int(number) if number.is_integer() else None
        return number
    except (TypeError, ValueError):
        return None


def served_batch(cfg: PipelineConfig, frame: pd.DataFrame) -> pa.RecordBatch:
    """The served inputs as a typed Arrow batch of the landed features."""
    columns = serving_columns(cfg)
    arrays = [
        pa.array(
            [_cell(v, kind) for v in (frame[name] if name in frame else [None] * len(frame))],
            ARROW_TYPES[kind],
        )
        for name, kind in columns.items()
    ]
    return pa.RecordBatch.from_arrays(arrays, list(columns))


def training_statistics_file(paths: SpanPaths, version: int) -> Path:
    return paths.training_stats_reference(version)


def training_statistics(cfg: PipelineConfig, paths: SpanPaths, version: int, spans: list[str], schema):
    """The landed statistics of the spans a version was trained and evaluated on (cached)."""
    from ml.data.stats import load_statistics

    cached = training_statistics_file(paths, version)
    if cached.is_file():
        return load_statistics(cached)
    files = [f for s in spans for f in matching_files(cfg, paths.landing_dir(s))]
    if not files:
        return None
    tmp = cached.with_name(f".{cached.name}.tmp")
    stats = compute_statistics(files, serving_columns(cfg), tmp, schema=schema)
    tmp.replace(cached)
    return stats


def ingested_rows(cfg: PipelineConfig, paths: SpanPaths, span: str) -> pd.DataFrame | None:
    """The span's examples as ingest prepares them from the landing (features after defaults and
    derivation), indexed by their request id; None when the span has not landed or cannot be."""
    from ml.data.ingest import prepare_examples
    from ml.data.raw import read_raw_span
    from ml.monitoring.ground_truth import request_ids

    if list(cfg.ground_truth_key) != list(cfg.example_key) or not paths.landing_dir(span).is_dir():
        return None
    try:
        raw = read_raw_span(cfg, paths.landing_dir(span), span)
        prepared = prepare_examples(cfg, raw.frame, span, str(raw.files[0]) if raw.files else "")
    except PipelineError:
        return None
    if prepared.key is None:
        return None
    frame = prepared.frame[[f.name for f in cfg.landed_features]].copy()
    frame.index = pd.Index(request_ids(prepared.key, cfg.example_key))
    return frame[~frame.index.duplicated()]


def _differs(served: Any, ingested: Any, kind: str) -> bool:
    if served is None or (isinstance(served, float) and math.isnan(served)):
        return True  # sent nothing; ingest saw a value (a default, or the landed one)
    if kind == "string":
        return str(served) != str(ingested)
    try:
        a, b = float(served), float(ingested)
    except (TypeError, ValueError):
        return True
    return not math.isclose(a, b, rel_tol=SKEW_TOLERANCE, abs_tol=1e-9)


def feature_skew(cfg: PipelineConfig, served: pd.DataFrame, ingested: pd.DataFrame) -> dict[str, Any]:
    """Per feature, how many served examples joined with their ingested self differ."""
    served = served.drop_duplicates("request_id").set_index("request_id")
    joined = served.index.intersection(ingested.index)
    per_feature = {}
    for feature in cfg.landed_features:
        name, kind = feature.name, feature.type
        if name not in served:
            continue
        left, right = served.loc[joined, name], ingested.loc[joined, name]
        different = [rid for rid, a, b in zip(joined, left, right, strict=True) if _differs(a, b, kind)]
        per_feature[name] = {
            "mismatches": len(different),
            "rate": round(len(different) / len(joined), 6) if len(joined) else 0.0,
            "examples": different[:EXAMPLES_KEPT],
        }
    return {"served": int(len(served)), "joined": int(len(joined)), "features": per_feature}


def check_served_inputs(
    cfg: PipelineConfig,
    paths: SpanPaths,
    span: str,
    frame: pd.DataFrame,
    version: int | None,
    spans: list[str],
    out: Path,
) -> dict[str, Any]:
    """Every check above on the span's served inputs (`frame`: one row per logged prediction with
    request_id and the landed features); artifacts into `out`. Returns the summary and warnings."""
    import tensorflow_data_validation as tfdv

    from ml.data.validate import compare

    warnings: list[str] = []
    schema = pipeline_schema(cfg)
    columns = list(serving_columns(cfg))
    stats = statistics_in_memory(iter([served_batch(cfg, frame)]), stats_options(columns, schema))
    write_statistics(stats, paths.served_stats_file(out))
    proto = tfdv.validate_statistics(
        stats, strip_comparators(schema), environment=environment(schema, SERVING)
    )
    schema_anomalies = anomaly_util.from_tfdv(proto, check="served-schema", severity="warn")
    warnings += [f"served inputs: {a.line()}" for a in schema_anomalies]
    summary: dict[str, Any] = {
        "rows": int(len(frame)),
        "stats_file": str(paths.served_stats_file(out)),
        "schema_anomalies": [a.as_dict() for a in schema_anomalies],
        "drift": {},
        "drifted": [],
        "skew": None,
        "facets": None,
        "training_stats": None,
    }
    training = (
        training_statistics(cfg, paths, version, spans, schema) if version is not None and spans else None
    )
    if training is not None and version is not None:
        _, drifted, measured = compare("drift", cfg, stats, schema, training)
        summary["drift"] = measured
        summary["drifted"] = sorted({a.feature for a in drifted})
        summary["training_stats"] = str(training_statistics_file(paths, version))
        warnings += [f"served inputs drift from training: {a.line()}" for a in drifted]
        page = statistics_html(
            stats,
            training,
            name="served",
            baseline_name="training",
            title=f"{cfg.name} {span}: served vs training",
        )
        atomic_write_text(out / FACETS_FILE, page)
        summary["facets"] = str(out / FACETS_FILE)
    ingested = ingested_rows(cfg, paths, span)
    if ingested is not None:
        skew = feature_skew(cfg, frame, ingested)
        summary["skew"] = skew
        limit = cfg.monitoring.max_feature_skew
        for name, found in skew["features"].items():
            if found["rate"] > limit:
                examples = ", ".join(found["examples"])
                warnings.append(
                    f"served inputs: {name} differs from the same example as ingested in {found['rate']:.1%} "
                    f"of {skew['joined']} joined examples (e.g. {examples}; max {limit:.1%})"
                )
    summary["warnings"] = warnings
    return summary
