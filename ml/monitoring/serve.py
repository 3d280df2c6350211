"""`serve-span`: answer a span's serving requests with the live model and log every prediction.

The embedded default's stand-in for clients calling TF Serving: the span's requests
(`<data_root>/<landing.serving_log_folder>/span=<id>/*.csv`, the raw features plus the ground-truth
key columns the request id is made of) are answered through `serving_default`, the signature TF
Serving runs, by the version the `stable` label points at, or by `canary` for the share of
request ids `monitoring.canary_share` routes there (by a hash of the id, so a re-run routes the
same way). The predictions go to the span's prediction log (ml.monitoring.prediction_log),
replaced as a whole, with the span's start as their time: re-running gives the same files.
"""

from __future__ import annotations

import hashlib
from typing import Any, cast

import pandas as pd

from ml.config import PipelineConfig
from ml.data.raw import matching_files, read_typed
from ml.errors import ServingError
from ml.model.signatures import DEFAULT_SIGNATURE, OUTPUT_KEY
from ml.monitoring.ground_truth import request_ids
from ml.roots import Roots
from ml.serving.labels import CANARY, STABLE, current
from ml.serving.layout import ServingLayout
from ml.serving.prediction_log import Prediction, write_span
from ml.spans import SpanPaths, parse_span, span_start


def routed_to_canary(request_id: str, share: float) -> bool:
    """Whether a request id falls in the canary's share (stable across runs and processes)."""
    return int(hashlib.md5(request_id.encode()).hexdigest()[:8], 16) / 0x1_0000_0000 < share


def read_requests(cfg: PipelineConfig, paths: SpanPaths, span: str) -> pd.DataFrame:
    folder = paths.serving_log_dir(span)
    files = matching_files(cfg, folder)
    if not files:
        raise ServingError(
            f"span {span} has no serving requests: no {cfg.landing_glob!r} file in {folder}",
            span=span,
            file=str(folder),
            rule="serving-requests",
        )
    types = {c: cfg.raw_column_types[c] for c in cfg.ground_truth_key}
    types |= {f.name: f.type for f in cfg.landed_features}
    frame = read_typed(files, span, types)
    frame["request_id"] = request_ids(frame, cfg.ground_truth_key)
    return frame


def serve_span(cfg: PipelineConfig, roots: Roots, span: str, canary_share: float | None = None) -> dict:
    """Answer and log the span's requests; returns counts per version label."""
    from ml.model.predict import ServingModel

    span = parse_span(cfg, span)
    paths = SpanPaths(cfg, roots)
    serving = ServingLayout.of(cfg, roots)
    labels = current(serving).labels
    if labels.get(STABLE) is None:
        raise ServingError(
            f"no version of {cfg.model_name} is served ({serving.models_config} has no `stable` label): "
            "push a blessed model first",
            span=span,
            file=str(serving.models_config),
            rule="served-model",
        )
    frame = read_requests(cfg, paths, span)
    share = cfg.monitoring.canary_share if canary_share is None else canary_share
    canary_on = labels.get(CANARY) not in (None, labels[STABLE]) and share > 0
    route = [CANARY if canary_on and routed_to_canary(i, share) else STABLE for i in frame["request_id"]]
    frame["route"] = route
    features = [f.name for f in cfg.landed_features]
    inputs = frame[features].astype(object).where(frame[features].notna(), None)
    when = int(span_start(cfg, span).timestamp())
    predictions: list[Prediction] = []
    answered: dict[str, int] = {}
    for label in (STABLE, CANARY):
        part = frame.index[frame["route"] == label]
        if not len(part):
            continue
        version = labels[label]
        rows = cast(list[dict[str, Any]], inputs.loc[part].to_dict("records"))
        scores = ServingModel(serving.version_dir(version), cfg).predict(rows)
        answered[label] = len(rows)
        predictions += [
            Prediction(
                rid,
                when,
                cfg.model_name,
                version,
                label,
                DEFAULT_SIGNATURE,
                {OUTPUT_KEY: [float(score)]},
                row,
            )
            for rid, row, score in zip(frame.loc[part, "request_id"], rows, scores, strict=True)
        ]
    predictions.sort(key=lambda p: p.request_id)
    folder = paths.predictions_dir(span)
    count = write_span(folder, predictions)
    return {
        "span": span,
        "predictions": count,
        "answered": answered,
        "versions": {label: labels[label] for label in answered},
        "predictions_dir": str(folder),
    }
