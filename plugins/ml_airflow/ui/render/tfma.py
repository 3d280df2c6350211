"""Context of the TFMA page: slice table (metrics.json), blessing (blessing.json) and the
calibration plot of the overall slice (TFMA's plots TFRecord), without importing TFMA/TF."""

from __future__ import annotations

import importlib.util
import json
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from ml.model.layout import EvaluationLayout
from ml.tfrecord import read_tfrecords
from ml_airflow.ui.static_files import package_dir

OVERALL = "Overall"


@cache
def _metrics_pb2() -> ModuleType | None:
    """TFMA's `metrics_for_slice_pb2` (it needs only protobuf), loaded by file so that the TFMA
    package (which imports TensorFlow) is not."""
    if "tensorflow_model_analysis" in sys.modules:
        from tensorflow_model_analysis.proto import metrics_for_slice_pb2

        return metrics_for_slice_pb2
    root = package_dir("tensorflow_model_analysis")
    path = root / "proto" / "metrics_for_slice_pb2.py" if root else None
    if path is None or not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location(
        "tensorflow_model_analysis.proto.metrics_for_slice_pb2", path
    )
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def calibration(tfma_dir: Path, bins: int = 10) -> dict[str, list[float]]:
    """Mean prediction vs observed rate of the overall slice (candidate), TFMA's calibration
    histogram buckets regrouped into `bins` equal-width prediction bins."""
    pb2 = _metrics_pb2()
    files = sorted(tfma_dir.glob("plots*"))
    points: dict[str, list[float]] = {"prediction": [], "label": [], "count": []}
    if pb2 is None or not files:
        return points
    sums = [[0.0, 0.0, 0.0] for _ in range(bins)]  # examples, predictions, labels
    for record in read_tfrecords(files[0]):
        plots = pb2.PlotsForSlice.FromString(record)
        if plots.slice_key.single_slice_keys:
            continue
        for kv in plots.plot_keys_and_values:
            if kv.key.model_name not in ("", "candidate") or getattr(kv.key, "is_diff", False):
                continue
            for b in kv.value.calibration_histogram_buckets.buckets:
                n = b.num_weighted_examples.value
                if n <= 0:
                    continue
                mean = b.total_weighted_refined_prediction.value / n
                acc = sums[min(bins - 1, max(0, int(mean * bins)))]
                acc[0] += n
                acc[1] += b.total_weighted_refined_prediction.value
                acc[2] += b.total_weighted_label.value
    for n, pred, label in sums:
        if n > 0:
            points["prediction"].append(round(pred / n, 4))
            points["label"].append(round(label / n, 4))
            points["count"].append(n)
    return points


def context(folder: Path) -> dict[str, Any]:
    evaluation = EvaluationLayout(folder)
    metrics: dict[str, dict[str, dict[str, float]]] = json.loads(evaluation.metrics.read_text())
    blessing = json.loads(evaluation.blessing.read_text()) if evaluation.blessing.is_file() else {}
    names = sorted({name for groups in metrics.values() for name in groups.get("candidate", {})})
    names = (
        ["example_count", *[n for n in names if n != "example_count"]] if "example_count" in names else names
    )
    slices = list(metrics)
    auc = [metrics[s].get("candidate", {}).get("auc") for s in slices]
    cal = calibration(evaluation.tfma)
    figures = {
        "auc_by_slice": {
            "data": [{"type": "bar", "x": slices, "y": auc, "name": "AUC"}],
            "layout": {
                "height": 300,
                "margin": {"t": 10, "b": 90},
                "yaxis": {"range": [0, 1], "title": {"text": "AUC"}},
            },
        },
        "calibration": {
            "data": [
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": "model",
                    "x": cal["prediction"],
                    "y": cal["label"],
                    "text": [f"{c:.0f} examples" for c in cal["count"]],
                },
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": "perfect",
                    "x": [0, 1],
                    "y": [0, 1],
                    "line": {"dash": "dot"},
                },
            ],
            "layout": {
                "height": 320,
                "width": 360,
                "margin": {"t": 10},
                "xaxis": {"title": {"text": "mean prediction"}, "range": [0, 1]},
                "yaxis": {"title": {"text": "observed positive rate"}, "range": [0, 1]},
            },
        },
    }
    from ml.model.report import evaluation_report, evaluation_sections

    return {
        "report": evaluation_report(folder) if evaluation.analysis.is_file() else None,
        "sections": evaluation_sections(folder),
        "metrics": metrics,
        "metric_names": names,
        "blessing": blessing,
        "figures": figures,
        "has_calibration": bool(cal["prediction"]),
    }
