"""`evaluate`: TFMA on the RAW judged split (the held-out test split when `split.test_percent`
is set, else eval), sliced, gated by thresholds, vs the served baseline and the benchmark.

Output dir `E` (written atomically): `E/tfma/` (TFMA eval + validation result, readable with
`tfma.load_metrics` / `tfma.load_validation_result` / `tfma.load_eval_results`),
`E/metrics.json` (every scalar metric per slice and model: candidate, baseline = the served
model, benchmark = ml.model.benchmark), `E/analysis.json` (slice sizes, gaps, calibration,
robustness probe, sensitivity), what the caller asks to have written beside them from the
judged rows and the candidate's scores (`beside`: the `evaluate` command writes `E/reference.json`,
ml.monitoring's reference for the live model: the model layer never imports monitoring) and
`E/blessing.json` (the verdict of ml.model.gate.judge).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.constants import MATERIALIZED_PREDICTION

from ml.atomic import atomic_dir, atomic_write_json
from ml.beam import release_shared_objects
from ml.config import PipelineConfig
from ml.errors import PipelineError
from ml.model.blessing import Blessing, ModelRef
from ml.model.gate import BASELINE, BENCHMARK, CANDIDATE
from ml.model.layout import BaselineModel, EvaluationLayout, resolve_model, saved_model_digest
from ml.model.signatures import DEFAULT_SIGNATURE
from ml.model.slices import OVERALL
from ml.model.tfma_inputs import EvalRows, prediction_key, single_columns
from ml.model.tfma_run import TfmaLevers, metric_configs, read_failures, read_metrics, run_tfma
from ml.model.train_result import TrainResult
from ml.model.window import parse_span_range, select_spans, split_files
from ml.roots import Roots
from ml.spans import SpanPaths


def _model_spec(
    cfg: PipelineConfig, name: str, is_baseline: bool = False, precomputed: bool = True
) -> tfma.ModelSpec:
    """The model's scores as TFMA reads them: from the scored examples (ml.model.tfma_inputs),
    or (not `precomputed`) by TFMA calling the SavedModel's `serving_default` itself."""
    if not precomputed:
        return tfma.ModelSpec(
            name=name,
            label_key=cfg.label,
            model_type="tf_generic",
            signature_name=DEFAULT_SIGNATURE,
            is_baseline=is_baseline,
        )
    return tfma.ModelSpec(
        name=name,
        label_key=cfg.label,
        model_type=MATERIALIZED_PREDICTION,  # TFMA reads `prediction_key`, loads nothing
        prediction_key=prediction_key(name),
        is_baseline=is_baseline,
    )


def _change(max_drop: float) -> tfma.MetricThreshold:
    return tfma.MetricThreshold(
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -max_drop}
        )
    )


Beside = Callable[[EvalRows], Any]  # the eval rows, the candidate's scores among them -> JSON content


def _slice_spec(name: str) -> tfma.SlicingSpec:
    """`carrier=UA` (or `a=x,b=y`) as the SlicingSpec of exactly that slice."""
    return tfma.SlicingSpec(feature_values=dict(part.split("=", 1) for part in name.split(",")))


def computed_slices(
    cfg: PipelineConfig, sizes: dict[str, int], by_key: bool = True
) -> list[tfma.SlicingSpec]:
    """Overall and every slice with at least `min_slice_size` examples. TFMA is never asked for
    a smaller one: TFMA 0.47.1 records every threshold as failed ("Metric not found") on a slice
    it computed no metrics for, whatever the threshold's own slice, so its validation result
    would contradict the blessing. Single columns by key (the scored examples hold no value of
    a too-small slice, ml.model.tfma_inputs), crossed slices by their values; not `by_key`: every
    slice by its values (one spec each, each tested on every example)."""
    minimum = cfg.eval_options.min_slice_size
    big = [name for name, count in sizes.items() if name != OVERALL and count >= minimum]
    if not by_key:
        return [tfma.SlicingSpec()] + [_slice_spec(name) for name in big]
    keyed = [tfma.SlicingSpec(feature_keys=[column]) for column in single_columns(cfg)]
    return [tfma.SlicingSpec(), *keyed] + [_slice_spec(name) for name in big if "," in name]


def _threshold_slices(cfg: PipelineConfig, sizes: dict[str, int], judged: bool) -> list[tuple[str, int]]:
    """(name, size) of the slices of `slice_thresholds.columns` that are big enough to be judged
    (`judged`), or of those too small to be."""
    options = cfg.eval_options
    return [
        (name, count)
        for name, count in sizes.items()
        if "," not in name
        and name.partition("=")[0] in options.slice_thresholds.columns
        and (count >= options.min_slice_size) == judged
    ]


def unjudged_slices(cfg: PipelineConfig, sizes: dict[str, int]) -> list[dict]:
    """The slice thresholds left out because the slice is too small, as the blessing lists them."""
    return [
        {"slice": name, "metric": "auc", "why": f"too small (n={count})"}
        for name, count in _threshold_slices(cfg, sizes, judged=False)
    ]


def eval_config(
    cfg: PipelineConfig,
    with_baseline: bool,
    with_benchmark: bool,
    sizes: dict[str, int],
    levers: TfmaLevers = TfmaLevers(),
) -> tfma.EvalConfig:
    """Candidate (+ served baseline, + benchmark) in one TFMA run. Thresholds (candidate only):
    the AUC lower bound and the change vs the served model on the overall slice, and the
    per-slice change threshold on every slice of `slice_thresholds.columns` with at least
    `min_slice_size` examples (`sizes`: ml.model.tfma_inputs.EvalRows.sizes). Smaller
    slices are not computed and get no thresholds: they never decide, and TFMA's validation
    result (`validation_ok`) agrees with the metric checks of the blessing. `levers`: how TFMA
    is asked (ml.model.tfma_run.TfmaLevers; `STOCK`: TFMA runs the SavedModels, one combiner per
    metric, one spec per slice value)."""
    options = cfg.eval_options
    thresholds = cfg.eval_thresholds
    overall = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(
            lower_bound={"value": thresholds.get("auc_lower_bound", 0.5)}
        )
    )
    if with_baseline:
        overall.change_threshold.CopyFrom(_change(thresholds.get("auc_max_drop", 0.0)).change_threshold)
    gate = [tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=overall)]
    if with_baseline and options.slice_thresholds.columns:
        slices = [_slice_spec(name) for name, _ in _threshold_slices(cfg, sizes, judged=True)]
        if slices:
            gate.append(
                tfma.PerSliceMetricThreshold(
                    slicing_specs=slices, threshold=_change(options.slice_thresholds.auc_max_drop)
                )
            )
    scored, shared = levers.precomputed_scores, levers.shared_histogram
    specs = [_model_spec(cfg, CANDIDATE, precomputed=scored)]
    judged = [CANDIDATE]
    if with_baseline:
        specs.append(_model_spec(cfg, BASELINE, is_baseline=True, precomputed=scored))
        judged.append(BASELINE)
    metrics_specs = [tfma.MetricsSpec(metrics=metric_configs(cfg, gate, shared), model_names=judged)]
    if with_benchmark:  # same metrics, no thresholds: it is compared by ml.model.gate
        specs.append(_model_spec(cfg, BENCHMARK, precomputed=scored))
        metrics_specs.append(
            tfma.MetricsSpec(metrics=metric_configs(cfg, [], shared), model_names=[BENCHMARK])
        )
    return tfma.EvalConfig(
        model_specs=specs,
        metrics_specs=metrics_specs,
        slicing_specs=computed_slices(cfg, sizes, levers.by_key),
        options=tfma.Options(min_slice_size={"value": options.min_slice_size}),
    )


def _run_tfma(
    cfg: PipelineConfig,
    models: dict[str, Path],
    loaded: dict[str, Any],
    rows: EvalRows,
    files: list[Path],
    output: Path,
    levers: TfmaLevers,
) -> None:
    """One TFMA run over `models` (`{candidate|baseline|benchmark: SavedModel dir}`): over the
    examples scored once by the `loaded` models (ml.model.predict.ServingModel by name), or
    (not `levers.precomputed_scores`) over the raw eval files with TFMA running the SavedModels."""
    config = eval_config(cfg, BASELINE in models, BENCHMARK in models, rows.sizes, levers)
    shared = [
        tfma.default_eval_shared_model(eval_saved_model_path=str(path), model_name=name, eval_config=config)
        for name, path in models.items()
    ]  # materialized: the paths are recorded in TFMA's output, never loaded by TFMA
    one = shared if len(shared) > 1 else shared[0]
    if not levers.precomputed_scores:
        run_tfma(files, config, output, one)
        return
    with tempfile.TemporaryDirectory(prefix="ml-evaluate-") as tmp:
        scored = rows.write_scored(cfg, rows.score(loaded), Path(tmp) / "scored.tfrecord.gz")
        run_tfma([scored], config, output, one)


def eval_spans(cfg: PipelineConfig, roots: Roots, train_result: TrainResult, spans: str | None) -> list[str]:
    """The model's training window, or the usable spans of an explicit `D1:D2` range."""
    if not spans:
        return list(train_result.spans)
    used = select_spans(cfg, roots, parse_span_range(cfg, spans)).used
    if not used:
        raise PipelineError(f"no usable ingested span in {spans}", span=spans, rule="eval-spans")
    return used


def _sample_rows(cfg: PipelineConfig, records: list[bytes], count: int) -> list[dict]:
    """`count` eval examples spread evenly over every eval span (deterministic)."""
    from ml.model.predict import raw_rows

    step = max(len(records) / count, 1.0)
    return raw_rows([records[int(i * step)] for i in range(min(count, len(records)))], cfg)


def load_models(cfg: PipelineConfig, models: dict[str, Path]) -> dict[str, Any]:
    """`{name: ml.model.predict.ServingModel}`, each loaded once for scoring and the analysis."""
    from ml.model.predict import ServingModel

    loaded = {}
    for name, path in models.items():
        try:
            loaded[name] = ServingModel(path, cfg)
        except Exception as err:  # noqa: BLE001 -- e.g. no serving_default: said in one line
            raise PipelineError(
                f"the {name} model {path} cannot be loaded through its serving_default signature: {err}",
                rule="model-loadable",
            ) from err
    return loaded


def side_by_side(metrics: dict) -> dict[str, dict[str, float | None]]:
    """`{metric: {candidate, benchmark, served}}` on the overall slice."""
    row = metrics.get(OVERALL, {})
    names = sorted(set(row.get(CANDIDATE, {})) | set(row.get(BENCHMARK, {})) | set(row.get(BASELINE, {})))
    return {
        name: {
            "candidate": row.get(CANDIDATE, {}).get(name),
            "benchmark": row.get(BENCHMARK, {}).get(name),
            "served": row.get(BASELINE, {}).get(name),
        }
        for name in names
    }


def analyse(
    cfg: PipelineConfig,
    tfma_dir: Path,
    files: list[Path],
    loaded: dict[str, Any],
    rows: EvalRows,
    beside: Mapping[str, Beside] | None = None,
) -> dict:
    """Everything beside TFMA's own metrics: slice sizes, gaps, calibration, probe, sensitivity,
    and the caller's files computed from the eval rows and the candidate's scores (`beside`)."""
    from ml.model.calibration import calibration_tables
    from ml.model.robustness import robustness_probe
    from ml.model.sensitivity import sensitivity
    from ml.model.slices import slice_gaps, too_small

    options = cfg.eval_options
    metrics = read_metrics(tfma_dir)
    gap_limits = {"max_fpr_gap": options.gaps.max_fpr_gap, "max_fnr_gap": options.gaps.max_fnr_gap}
    sizes = rows.sizes
    sample = _sample_rows(cfg, rows.records, max(options.sensitivity.examples, 1))
    model, served = loaded[CANDIDATE], loaded.get(BASELINE)
    rows.score({CANDIDATE: model})  # done before the TFMA run, unless TFMA ran the models
    return {
        "metrics": metrics,
        "beside": {name: make(rows) for name, make in (beside or {}).items()},
        "slice_sizes": sizes,
        "min_slice_size": options.min_slice_size,
        "too_small": too_small(sizes, options.min_slice_size),
        "gaps": slice_gaps(metrics, sizes, options.gaps.columns, options.min_slice_size, gap_limits),
        "calibration": calibration_tables(tfma_dir),
        "robustness": robustness_probe(cfg, model, sample),
        "sensitivity": sensitivity(cfg, sample, model, served),
        "side_by_side": side_by_side(metrics),
    }


def evaluate(
    cfg: PipelineConfig,
    roots: Roots,
    model: Path,
    *,
    baseline: BaselineModel | None = None,
    spans: str | None = None,
    output: Path | None = None,
    beside: Mapping[str, Beside] | None = None,
    levers: TfmaLevers = TfmaLevers(),
) -> Blessing:
    """TFMA of `model` on its eval spans, against `baseline` (None: thresholds only) and the
    benchmark, then the analysis and one verdict (ml.model.gate.judge); `beside`: JSON files to
    write into the evaluation, each made from the eval rows and the candidate's scores;
    `levers`: how TFMA is asked (ml.model.tfma_run.TfmaLevers; `STOCK` to compare: tests/
    test_model_pipeline.py, bench/train_scale.py, bench/evaluate_levers.py)."""
    from ml.model.benchmark import KIND, ensure_benchmark
    from ml.model.gate import judge

    layout = resolve_model(model)
    train_result = TrainResult.read(layout.train_result)
    used = eval_spans(cfg, roots, train_result, spans)
    files = split_files(cfg, roots, used, cfg.spec.split.judged)
    output = Path(output).resolve() if output else SpanPaths(cfg, roots).evaluation_dir(layout.root.name)
    models = {CANDIDATE: layout.saved_model}
    if baseline:
        models[BASELINE] = baseline.path
    benchmark = None
    if cfg.eval_options.benchmark is not None:
        benchmark = ensure_benchmark(cfg, train_result.transform_path)
        models[BENCHMARK] = benchmark.saved_model
    rows = EvalRows.read(cfg, files)
    sizes = rows.sizes
    loaded = load_models(cfg, models)
    final = EvaluationLayout(output)
    with atomic_dir(output) as tmp_dir:
        tmp = EvaluationLayout(tmp_dir)
        try:
            _run_tfma(cfg, models, loaded, rows, files, tmp.tfma, levers)
        finally:  # free the SavedModels Beam's Shared cache keeps alive (else: at exit, noisily)
            release_shared_objects()
        analysis = analyse(cfg, tmp.tfma, files, loaded, rows, beside)
        metrics = analysis.pop("metrics")
        for name, content in analysis.pop("beside").items():
            atomic_write_json(tmp.beside(name), content)
        tfma_ok, tfma_failures = read_failures(tmp.tfma)
        verdict = judge(
            cfg,
            metrics,
            tfma_failures,
            analysis["slice_sizes"],
            robustness=analysis["robustness"],
            gaps=analysis["gaps"],
            classes=rows.label_counts(),
        )
        for groups in metrics.values() if verdict["undefined"] else ():
            for values in groups.values():  # one class: TFMA's value says nothing
                values.update(dict.fromkeys(set(verdict["undefined"]) & set(values)))
        failures = verdict["failures"]
        overall = metrics.get(OVERALL, {})
        blessing = Blessing(
            blessed=verdict["blessed"],
            decided_by=verdict["decided_by"],
            reason=verdict["reason"],
            warnings=verdict["warnings"],
            checks=verdict["checks"],
            undefined_metrics=verdict["undefined"],
            model_dir=str(layout.root),
            saved_model=str(layout.saved_model),
            saved_model_digest=saved_model_digest(layout.saved_model),
            baseline=ModelRef(path=str(baseline.path), version=baseline.version) if baseline else None,
            benchmark=ModelRef(path=str(benchmark.saved_model), kind=KIND) if benchmark else None,
            spans=used,
            judged_split=cfg.spec.split.judged,
            eval_files=[str(f) for f in files],
            thresholds=cfg.eval_thresholds,
            failing_metric=failures[0]["metric"] if failures else None,
            failing_slice=failures[0]["slice"] if failures else None,
            failures=failures,
            ignored_failures=verdict["ignored"]
            + [u for u in unjudged_slices(cfg, sizes) if u not in verdict["ignored"]]
            if baseline
            else verdict["ignored"],
            tfma_validation_ok=tfma_ok,  # TFMA's own record (tfma.load_validation_result)
            beside_tfma=[c["check"] for c in verdict["checks"] if not c.get("tfma")],
            candidate=overall.get(CANDIDATE, {}),
            baseline_metrics=overall.get(BASELINE),
            benchmark_metrics=overall.get(BENCHMARK),
            diff=overall.get("diff"),
            side_by_side=analysis["side_by_side"],
            auc_by_slice={name: m.get(CANDIDATE, {}).get("auc") for name, m in metrics.items()},
            example_count_by_slice=analysis["slice_sizes"],
            too_small=analysis["too_small"],
            gaps=analysis["gaps"],
            robustness={k: v for k, v in analysis["robustness"].items() if k != "failures"}
            | {"failures": analysis["robustness"]["failures"][:10]},
            sharp_changes=analysis["sensitivity"]["sharp_changes"],
            evaluation_dir=str(output),
            tfma_dir=str(final.tfma),
            analysis=str(final.analysis),
            evaluated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        atomic_write_json(tmp.metrics, metrics)
        atomic_write_json(tmp.analysis, analysis)
        blessing.write(tmp.blessing)
    return blessing
