"""TFMA metrics that share one histogram per model and slice (TFMA still computes them).

TFMA's stock `BinaryAccuracy`, `Precision`, `Recall`, `FallOut` and `MissRate` each build a
threshold-0.5 confusion matrix with their own per-example combiner, `Calibration` another one
(Σ predictions / Σ labels) and `ExampleCount` another; `AUC` and `CalibrationPlot` already share
TFMA's 10,000-bucket calibration histogram. The classes here derive the same values from that
shared histogram (`binary_confusion_matrices(..., use_histogram=True)`, as TFMA's own
calibration plot does), so each example is read once per model and slice instead of four times.
Same metric names in TFMA's output; the only difference: a score within 1e-4 (one histogram
bucket) of 0.5 may be counted on the other side of the threshold (docs/how-to/performance.md).

`SHARED` maps each stock class name to its class here; ml.model.tfma_run asks TFMA for these
by `module` (a registered TFMA class name would win over the module, hence the prefix).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tensorflow_model_analysis.metrics import (
    binary_confusion_matrices,
    calibration,
    calibration_histogram,
    confusion_matrix_metrics,
    example_count,
    metric_types,
    metric_util,
)

THRESHOLD = 0.5


def _derived(computations: list, key, value_of) -> metric_types.MetricComputations:
    """`computations` + one derived value under `key`, from what the last computation produces."""
    source = computations[-1].keys[-1]

    def result(metrics: dict[Any, Any]) -> dict[Any, Any]:
        return {key: value_of(metrics[source])}

    computations.append(metric_types.DerivedMetricComputation(keys=[key], result=result))
    return computations


class _FromHistogram:
    """A stock TFMA confusion-matrix metric whose matrix (at 0.5) comes from the shared histogram."""

    def _metric_computations(
        self,
        thresholds=None,
        num_thresholds=None,
        top_k=None,
        class_id=None,
        name: str | None = None,
        eval_config=None,
        model_name: str = "",
        output_name: str = "",
        sub_key=None,
        aggregation_type=None,
        class_weights=None,
        example_weighted: bool = False,
        preprocessors=None,
        metric_key=None,
        **kwargs,
    ) -> metric_types.MetricComputations:
        shared = {"model_name": model_name, "output_name": output_name, "sub_key": sub_key}
        shared |= {"example_weighted": example_weighted}
        key = metric_key or metric_types.MetricKey(name=name, aggregation_type=aggregation_type, **shared)
        computations = binary_confusion_matrices.binary_confusion_matrices(
            thresholds=[THRESHOLD],
            eval_config=eval_config,
            aggregation_type=aggregation_type,
            class_weights=class_weights,
            use_histogram=True,
            **shared,
        )
        return _derived(computations, key, lambda matrices: self._metric_value(key=key, matrices=matrices))  # type: ignore[attr-defined]


class HistogramBinaryAccuracy(_FromHistogram, confusion_matrix_metrics.BinaryAccuracy):
    """`binary_accuracy` at 0.5 from the shared histogram."""


class HistogramPrecision(_FromHistogram, confusion_matrix_metrics.Precision):
    """`precision` at 0.5 from the shared histogram."""


class HistogramRecall(_FromHistogram, confusion_matrix_metrics.Recall):
    """`recall` at 0.5 from the shared histogram."""


class HistogramFallOut(_FromHistogram, confusion_matrix_metrics.FallOut):
    """`fall_out` (false positive rate) at 0.5 from the shared histogram."""


class HistogramMissRate(_FromHistogram, confusion_matrix_metrics.MissRate):
    """`miss_rate` (false negative rate) at 0.5 from the shared histogram."""


def _calibration_from(buckets: list) -> float:
    labels = sum(b.weighted_labels for b in buckets)
    return float("nan") if np.isclose(labels, 0.0) else sum(b.weighted_predictions for b in buckets) / labels


def _count_from(buckets: list) -> float:
    return float(sum(b.weighted_examples for b in buckets))  # each example's weights add up to 1


def _from_histogram(value_of):
    """The computations of a metric whose value is `value_of(the shared histogram's buckets)`."""

    def computations(
        name: str,
        eval_config=None,
        model_name: str = "",
        output_name: str = "",
        sub_key=None,
        aggregation_type=None,
        class_weights=None,
        example_weighted: bool = False,
    ) -> metric_types.MetricComputations:
        shared = {"model_name": model_name, "output_name": output_name, "sub_key": sub_key}
        shared |= {"example_weighted": example_weighted}
        histogram = calibration_histogram.calibration_histogram(
            eval_config=eval_config, aggregation_type=aggregation_type, class_weights=class_weights, **shared
        )
        return _derived(histogram, metric_types.MetricKey(name=name, **shared), value_of)

    return metric_util.merge_per_key_computations(computations)


class HistogramExampleCount(metric_types.Metric):
    """`example_count` from the shared histogram's weights."""

    def __init__(self, name: str = example_count.EXAMPLE_COUNT_NAME):
        super().__init__(_from_histogram(_count_from), name=name)

    @property
    def compute_confidence_interval(self) -> bool:
        return False


class HistogramCalibration(metric_types.Metric):
    """`calibration` (Σ predictions / Σ labels, exactly) from the shared histogram's sums."""

    def __init__(self, name: str = calibration.CALIBRATION_NAME):
        super().__init__(_from_histogram(_calibration_from), name=name)


SHARED: dict[str, type] = {
    "BinaryAccuracy": HistogramBinaryAccuracy,
    "Precision": HistogramPrecision,
    "Recall": HistogramRecall,
    "FallOut": HistogramFallOut,
    "MissRate": HistogramMissRate,
    "Calibration": HistogramCalibration,
    "ExampleCount": HistogramExampleCount,
}
