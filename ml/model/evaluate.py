"""`evaluate`: TFMA on the RAW eval split, sliced, gated by thresholds, vs the served baseline.

Output dir `E` (written atomically): `E/tfma/` (TFMA eval + validation result, readable with
`tfma.load_metrics` / `tfma.load_validation_result` / `tfma.load_eval_results`),
`E/metrics.json` (every scalar metric per slice and model) and `E/blessing.json`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import apache_beam as beam
import tensorflow_model_analysis as tfma
from google.protobuf import text_format
from tfx_bsl.public import tfxio

from ml.atomic import atomic_dir, atomic_write_json, read_json
from ml.beam import pipeline_options, release_shared_objects
from ml.config import PipelineConfig
from ml.errors import PipelineError
from ml.model.layout import Baseline, resolve_model, saved_model_digest
from ml.model.signatures import DEFAULT_SIGNATURE
from ml.model.window import parse_span_range, select_spans, split_files
from ml.roots import Roots
from ml.spans import SpanPaths

CANDIDATE, BASELINE = "candidate", "baseline"
OVERALL = "Overall"
GATE_METRIC = "AUC"


def eval_config(cfg: PipelineConfig, with_baseline: bool) -> tfma.EvalConfig:
    thresholds = cfg.eval_thresholds
    specs = [
        tfma.ModelSpec(
            name=CANDIDATE, label_key=cfg.label, model_type="tf_generic", signature_name=DEFAULT_SIGNATURE
        )
    ]
    if with_baseline:
        specs.append(
            tfma.ModelSpec(
                name=BASELINE,
                label_key=cfg.label,
                model_type="tf_generic",
                signature_name=DEFAULT_SIGNATURE,
                is_baseline=True,
            )
        )
    gate = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(
            lower_bound={"value": thresholds.get("auc_lower_bound", 0.5)}
        )
    )
    if with_baseline:
        gate.change_threshold.CopyFrom(
            tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                absolute={"value": -thresholds.get("auc_max_drop", 0.0)},
            )
        )
    # Gate on the overall slice only: MetricConfig.threshold would apply to every slice, and a
    # carrier with a handful of flights would fail the model.
    metrics = [
        tfma.MetricConfig(
            class_name=GATE_METRIC,
            per_slice_thresholds=[
                tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=gate)
            ],
        )
    ]
    metrics += [tfma.MetricConfig(class_name=name) for name in cfg.eval_metrics if name != GATE_METRIC]
    return tfma.EvalConfig(
        model_specs=specs,
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
        slicing_specs=[tfma.SlicingSpec(feature_keys=keys) for keys in cfg.eval_slices],
    )


def slice_name(slice_key) -> str:
    parts = []
    for key in slice_key.single_slice_keys:
        value = getattr(key, key.WhichOneof("kind"))
        parts.append(f"{key.column}={value.decode() if isinstance(value, bytes) else value}")
    return ",".join(parts) or OVERALL


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
                group = "diff" if kv.key.is_diff else (kv.key.model_name or CANDIDATE)
                per_slice.setdefault(group, {})[kv.key.name] = round(value, 6)
    return dict(sorted(table.items(), key=lambda kv: (kv[0] != OVERALL, kv[0])))


def read_failures(output: Path) -> tuple[bool, list[dict]]:
    result = tfma.load_validation_result(str(output))
    failures = []
    for per_slice in result.metric_validations_per_slice:
        for failure in per_slice.failures:
            failures.append(
                {
                    "metric": failure.metric_key.name,
                    "slice": slice_name(per_slice.slice_key),
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


def _run_tfma(
    cfg: PipelineConfig, saved_model: Path, baseline: Baseline | None, files: list[Path], output: Path
) -> None:
    config = eval_config(cfg, baseline is not None)
    models = [
        tfma.default_eval_shared_model(
            eval_saved_model_path=str(saved_model), model_name=CANDIDATE, eval_config=config
        )
    ]
    if baseline:
        models.append(
            tfma.default_eval_shared_model(
                eval_saved_model_path=str(baseline.path), model_name=BASELINE, eval_config=config
            )
        )
    source = tfxio.TFExampleRecord(
        [str(f) for f in files],
        raw_record_column_name=tfma.ARROW_INPUT_COLUMN,
        telemetry_descriptors=["ml-evaluate"],
    )
    with beam.Pipeline(options=pipeline_options()) as p:
        _ = (
            p
            | "ReadRawEval" >> source.BeamSource()
            | "EvaluateAndWrite"
            >> tfma.ExtractEvaluateAndWriteResults(
                eval_shared_model=models if baseline else models[0],
                eval_config=config,
                output_path=str(output),
            )
        )


def eval_spans(cfg: PipelineConfig, roots: Roots, train_result: dict, spans: str | None) -> list[str]:
    """The model's training window, or the usable spans of an explicit `D1:D2` range."""
    if not spans:
        return list(train_result["spans"])
    used = select_spans(cfg, roots, parse_span_range(cfg, spans)).used
    if not used:
        raise PipelineError(f"no usable ingested span in {spans}", span=spans, rule="eval-spans")
    return used


def evaluate(
    cfg: PipelineConfig,
    roots: Roots,
    model: Path,
    *,
    baseline: Baseline | None = None,
    spans: str | None = None,
    output: Path | None = None,
) -> dict:
    """TFMA of `model` on its eval spans, against `baseline` (None: thresholds only)."""
    layout = resolve_model(model)
    train_result = read_json(layout.train_result)
    used = eval_spans(cfg, roots, train_result, spans)
    files = split_files(cfg, roots, used, "eval")
    output = Path(output).resolve() if output else SpanPaths(cfg, roots).evaluation_dir(layout.root.name)
    with atomic_dir(output) as tmp:
        try:
            _run_tfma(cfg, layout.saved_model, baseline, files, tmp / "tfma")
        finally:  # free the SavedModels Beam's Shared cache keeps alive (else: at exit, noisily)
            release_shared_objects()
        metrics = read_metrics(tmp / "tfma")
        blessed, failures = read_failures(tmp / "tfma")
        overall = metrics.get(OVERALL, {})
        blessing = {
            "blessed": blessed,
            "model_dir": str(layout.root),
            "saved_model": str(layout.saved_model),
            "saved_model_digest": saved_model_digest(layout.saved_model),
            "baseline": baseline.as_dict() if baseline else None,
            "spans": used,
            "eval_files": [str(f) for f in files],
            "thresholds": cfg.eval_thresholds,
            "failing_metric": failures[0]["metric"] if failures else None,
            "failing_slice": failures[0]["slice"] if failures else None,
            "failures": failures,
            "candidate": overall.get(CANDIDATE, {}),
            "baseline_metrics": overall.get(BASELINE),
            "diff": overall.get("diff"),
            "auc_by_slice": {name: m.get(CANDIDATE, {}).get("auc") for name, m in metrics.items()},
            "example_count_by_slice": {
                name: m.get(CANDIDATE, {}).get("example_count") for name, m in metrics.items()
            },
            "evaluation_dir": str(output),
            "tfma_dir": str(output / "tfma"),
            "evaluated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        atomic_write_json(tmp / "metrics.json", metrics)
        atomic_write_json(tmp / "blessing.json", blessing)
    return {**blessing, "blessing": str(output / "blessing.json"), "failures": failures}
