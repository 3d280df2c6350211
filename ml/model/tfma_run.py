"""TFMA, as evaluation and monitoring both run it: the metrics of a pipeline, one run over
tf.Example files (running the models, or reading predictions already in the examples), and the
metrics and failed thresholds read back from TFMA's own output."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import apache_beam as beam
import tensorflow_model_analysis as tfma
from google.protobuf import text_format
from tfx_bsl.public import tfxio

from ml.beam import pipeline_options
from ml.config import PipelineConfig
from ml.model import tfma_metrics
from ml.model.calibration import CALIBRATION_BUCKETS
from ml.model.gate import CANDIDATE, GATE_METRIC_CLASS
from ml.model.slices import OVERALL, slice_name
from ml.model.tfma_metrics import SHARED

SHARED_MODULE = tfma_metrics.__name__


@dataclass(frozen=True)
class TfmaLevers:
    """How `evaluate` asks TFMA (docs/how-to/performance.md, "Evaluation within TFMA"): each
    model's scores computed once outside TFMA (`precomputed_scores`), the threshold metrics,
    calibration and counts from AUC's histogram (`shared_histogram`), single-column slices by
    key (`slices_by_key`, needs the precomputed scores' examples). `STOCK`: none of them,
    TFMA's own way, kept to compare (tests) and to measure (bench/evaluate_levers.py)."""

    precomputed_scores: bool = True
    shared_histogram: bool = True
    slices_by_key: bool = True

    @property
    def by_key(self) -> bool:
        return self.slices_by_key and self.precomputed_scores


STOCK = TfmaLevers(precomputed_scores=False, shared_histogram=False, slices_by_key=False)


def metric_configs(
    cfg: PipelineConfig, gate: list[tfma.PerSliceMetricThreshold], shared_histogram: bool = True
) -> list[tfma.MetricConfig]:
    """The pipeline's `evaluation.metrics`, the gate metric first with its thresholds. Threshold
    metrics, calibration and counts come from the histogram AUC already builds
    (ml.model.tfma_metrics), unless not `shared_histogram` (TFMA's own classes: one combiner each)."""
    metrics = [tfma.MetricConfig(class_name=GATE_METRIC_CLASS, per_slice_thresholds=gate)]
    for name in cfg.eval_metrics:
        if name == GATE_METRIC_CLASS:
            continue
        config = json.dumps({"num_buckets": CALIBRATION_BUCKETS}) if name == "CalibrationPlot" else ""
        if name in SHARED and shared_histogram:
            metrics.append(tfma.MetricConfig(class_name=SHARED[name].__name__, module=SHARED_MODULE))
        else:
            metrics.append(tfma.MetricConfig(class_name=name, config=config))
    return metrics


def _scalar(metric_value) -> float | None:
    kind = metric_value.WhichOneof("type")
    if kind == "double_value":
        return metric_value.double_value.value
    if kind == "bounded_value":
        return metric_value.bounded_value.value.value
    return None


def read_metrics(output: Path) -> dict[str, dict[str, dict[str, float]]]:
    """`{slice: {candidate|baseline|diff: {metric: value}}}` (scalar metrics only)."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for record in tfma.load_metrics(str(output)):
        per_slice = table.setdefault(slice_name(record.slice_key), {})
        for kv in record.metric_keys_and_values:
            value = _scalar(kv.value)
            if value is not None:
                model = kv.key.model_name or CANDIDATE
                if kv.key.is_diff and model != CANDIDATE:
                    continue  # the benchmark's diff vs the served model: not judged
                group = "diff" if kv.key.is_diff else model
                per_slice.setdefault(group, {})[kv.key.name] = round(value, 6)
    return dict(sorted(table.items(), key=lambda kv: (kv[0] != OVERALL, kv[0])))


def _bound(threshold) -> float | None:
    if threshold.HasField("change_threshold"):
        return threshold.change_threshold.absolute.value
    if threshold.HasField("value_threshold"):
        return threshold.value_threshold.lower_bound.value
    return None


def read_failures(output: Path) -> tuple[bool, list[dict]]:
    result = tfma.load_validation_result(str(output))
    failures = []
    for per_slice in result.metric_validations_per_slice:
        for failure in per_slice.failures:
            failures.append(
                {
                    "metric": failure.metric_key.name,
                    "model": failure.metric_key.model_name or CANDIDATE,
                    "slice": slice_name(per_slice.slice_key),
                    "bound": _bound(failure.metric_threshold),
                    "is_diff": failure.metric_key.is_diff,
                    "value": _scalar(failure.metric_value),
                    "threshold": text_format.MessageToString(failure.metric_threshold, as_one_line=True),
                    "message": failure.message,
                }
            )
    failures += [
        {
            "metric": None,
            "slice": text_format.MessageToString(s, as_one_line=True),
            "message": "slice missing from the evaluation",
        }
        for s in result.missing_slices
    ]
    return bool(result.validation_ok), failures


def run_tfma(
    files: list[Path], config: tfma.EvalConfig, output: Path, shared=None, telemetry: str = "ml-evaluate"
):
    """TFMA over serialized tf.Example files: with `shared` (eval shared model(s)) it runs the
    models, without it reads the predictions from the examples (`ModelSpec.prediction_key`)."""
    source = tfxio.TFExampleRecord(
        [str(f) for f in files],
        raw_record_column_name=tfma.ARROW_INPUT_COLUMN,
        telemetry_descriptors=[telemetry],
    )
    with beam.Pipeline(options=pipeline_options()) as p:
        _ = (
            p
            | "ReadExamples" >> source.BeamSource()
            | "EvaluateAndWrite"
            >> tfma.ExtractEvaluateAndWriteResults(
                eval_shared_model=shared, eval_config=config, output_path=str(output)
            )
        )
