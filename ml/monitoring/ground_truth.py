"""Late labels: read a span's ground truth and join it with the span's logged predictions.

A prediction's request id is its ground-truth key's values joined by `|` (`monitoring.labels.key`,
default the example key), e.g. `2013|1|15|UA|1545|EWR|515`: the demo's serving requests carry those
columns, and a client of the logging service sends the same string as `X-Request-Id`. The label
is the pipeline's own (`label:` rule or module function, ml.data.derive), computed from the rows
that landed in `monitoring.labels.folder` (default: the landing folder). Nothing is dropped
silently: every prediction is labelled, waiting for its label row, or has a row whose label is
still unknown; every label row that matches no prediction is counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ml.config import PipelineConfig
from ml.data.derive import label_values
from ml.data.raw import read_typed
from ml.event_time import ID_SEPARATOR
from ml.serving.prediction_log import Prediction, features_of, score_of
from ml.spans import SpanPaths

EXAMPLES_KEPT = 5  # ids quoted per kind of mismatch in the report


def request_ids(frame: pd.DataFrame, key: list[str]) -> pd.Series:
    """The request id of every row: the key columns' text joined by `|` (ints without `.0`)."""
    parts = [frame[c].astype("string").fillna("") for c in key]
    return pd.Series([ID_SEPARATOR.join(values) for values in zip(*parts, strict=True)], index=frame.index)


@dataclass
class GroundTruth:
    ids: pd.Series  # request id per label row
    labels: pd.Series  # Int64 0/1, NA where the label is not known (yet)
    files: list[Path] = field(default_factory=list)
    complete: bool = False  # the label folder's done marker is there


def label_types(cfg: PipelineConfig) -> dict[str, str]:
    """The raw columns the ground truth must have: the key and what the label is computed from."""
    types = cfg.raw_column_types
    return {c: types[c] for c in dict.fromkeys([*cfg.ground_truth_key, *cfg.label_columns])}


def read_ground_truth(cfg: PipelineConfig, paths: SpanPaths, span: str) -> GroundTruth:
    """The span's label rows as they are now (none yet: an empty GroundTruth)."""
    spec = cfg.monitoring.labels
    folder = paths.labels_dir(span)
    glob = spec.file_glob or cfg.landing_glob
    files = sorted(p for p in folder.glob(glob) if p.is_file()) if folder.is_dir() else []
    complete = (folder / (spec.done_marker or cfg.done_marker)).is_file()
    return label_rows(cfg, span, files, complete)


def label_rows(cfg: PipelineConfig, span: str, files: list[Path], complete: bool) -> GroundTruth:
    """The label rows of these files (none: an empty GroundTruth)."""
    if not files:
        empty = pd.Series([], dtype="string")
        return GroundTruth(empty, pd.Series([], dtype="Int64"), [], complete)
    frame = read_typed(files, span, label_types(cfg))
    labels = label_values(cfg, frame, span, str(files[0])).reset_index(drop=True)
    return GroundTruth(
        request_ids(frame, cfg.ground_truth_key).reset_index(drop=True), labels, files, complete
    )


def predictions_frame(predictions: list[Prediction], features: list[str], score_output: str) -> pd.DataFrame:
    """One row per prediction: request_id, time, version, label, score and the raw features (a
    feature a request did not send: None)."""
    rows = []
    for p in predictions:
        sent = features_of(p)
        rows.append(
            {
                "request_id": p.request_id,
                "time": p.time,
                "version": p.version,
                "version_label": p.label or f"v{p.version}",
                "score": score_of(p, score_output),
                **{name: sent.get(name) for name in features},
            }
        )
    columns = ["request_id", "time", "version", "version_label", "score", *features]
    return pd.DataFrame(rows, columns=columns)


@dataclass
class Joined:
    rows: pd.DataFrame  # predictions (first per request id) + `y` (Int64, NA = no label yet)
    counts: dict[str, int | float]
    examples: dict[str, list[str]]  # a few ids per kind of mismatch


def join(predictions: pd.DataFrame, truth: GroundTruth) -> Joined:
    """Predictions left-joined with labels on the request id; every mismatch counted."""
    dup_predictions = predictions["request_id"].duplicated(keep="first")
    preds = predictions[~dup_predictions].reset_index(drop=True)
    table = pd.DataFrame({"request_id": truth.ids.astype(str), "y": truth.labels})
    dup_labels = table["request_id"].duplicated(keep="last")  # the newest row of an id wins
    table = table[~dup_labels]
    rows = preds.merge(table, on="request_id", how="left", indicator=True)
    no_row = rows["_merge"] == "left_only"
    unknown = rows["y"].isna() & ~no_row
    unmatched = table[~table["request_id"].isin(preds["request_id"])]
    rows = rows.drop(columns="_merge")
    rows["y"] = rows["y"].astype("Int64")
    labelled = int(rows["y"].notna().sum())
    counts: dict[str, int | float] = {
        "predictions": int(len(preds)),
        "labelled": labelled,
        "coverage": round(labelled / len(preds), 6) if len(preds) else 0.0,
        "no_label_row": int(no_row.sum()),
        "label_unknown": int(unknown.sum()),
        "unknown_ids": int(len(unmatched)),
        "duplicate_predictions": int(dup_predictions.sum()),
        "duplicate_labels": int(dup_labels.sum()),
    }
    examples = {
        "no_label_row": rows.loc[no_row, "request_id"].head(EXAMPLES_KEPT).tolist(),
        "label_unknown": rows.loc[unknown, "request_id"].head(EXAMPLES_KEPT).tolist(),
        "unknown_ids": unmatched["request_id"].head(EXAMPLES_KEPT).tolist(),
        "duplicate_predictions": predictions.loc[dup_predictions, "request_id"].head(EXAMPLES_KEPT).tolist(),
    }
    return Joined(rows, counts, {k: v for k, v in examples.items() if v})
