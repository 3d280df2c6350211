"""ingest -> transform -> train -> evaluate -> infra-validate -> push -> rollback, for real.

Push promotes by TF Serving version labels (canary, then stable); rollback moves `stable` back.

Real TFT/TF/TFMA on three January spans, 2 epochs. The trained models are shared through
module-scoped fixtures; the only test double is tests/tf_serving_double.py (TF Serving).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from model_wrappers import (
    blurred_except_carrier,
    constant_for_carriers,
    nan_from_dep_delay,
    recalibrated,
    wrap_model,
)

from ml.atomic import atomic_write_json, read_json
from ml.data.examples import serialize_examples
from ml.errors import PipelineError
from ml.model.tf_example import decode_example, to_instance
from ml.model.tfma_run import STOCK, TfmaLevers
from ml.roots import Roots
from ml.serving import tf_serving_client as client
from ml.serving.layout import ServingLayout
from ml.serving.models_config import read as read_models_config
from ml.tfrecord import read_tfrecords, write_tfrecords

from conftest import cli
from tf_serving_double import TFServingDouble

INGESTED = ("2013-01-01", "2013-01-02", "2013-01-03", "2013-01-04")
END_SPAN, WINDOW = "2013-01-05", 5  # 2013-01-05 is landed but never ingested -> missing
FAILED_SPAN, PASSED_SPAN = "2013-01-04", "2013-01-02"
TRAIN_ARGS = ("--epochs", "2", "--batch-size", "64")
KINDS = {"bytes": "string", "float": "float", "int": "int"}


@pytest.fixture(scope="module")
def world(tmp_path_factory, landed_data_root) -> dict:
    """Ingested spans (one failed and one passed validation verdict) and model 1 pushed as v1."""
    base = tmp_path_factory.mktemp("model")
    roots = Roots.resolve(landed_data_root, base / "artifacts", base / "serving")
    for span in INGESTED:
        cli(roots, "ingest", "--span", span)
    spans_dir = roots.artifacts / "flights" / "spans"
    # H1's `validate` writes these verdicts; transform only reads the `passed` flag.
    atomic_write_json(spans_dir / FAILED_SPAN / "validation" / "verdict.json", {"passed": False})
    atomic_write_json(spans_dir / PASSED_SPAN / "validation" / "verdict.json", {"passed": True})
    xf = cli(roots, "transform", "--end-span", END_SPAN, "--window", str(WINDOW))
    model = base / "models" / "m1"
    trained = cli(roots, "train", "--transform-dir", xf["transform_dir"], "--output", str(model), *TRAIN_ARGS)
    evaluation = cli(roots, "evaluate", "--model", str(model))
    infra = cli(roots, "infra-validate", "--model", str(model))
    pushed = cli(roots, "push", "--model", str(model), "--blessing", evaluation["blessing"])
    return {
        "roots": roots,
        "base": base,
        "transform": xf,
        "model": model,
        "train": trained,
        "evaluation": evaluation,
        "infra": infra,
        "push": pushed,
    }


def _raw_eval_rows(world: dict, count: int = 32) -> list[bytes]:
    files = read_json(Path(world["model"]) / "train_result.json")["raw_eval_files"]
    return [r for f in files for r in read_tfrecords(Path(f))][:count]


def test_transform_window_reports_missing_failed_and_unvalidated_spans(world):
    xf = world["transform"]
    assert xf["spans_used"] == ["2013-01-01", "2013-01-02", "2013-01-03"]
    assert xf["spans_missing"] == [END_SPAN]
    assert list(xf["spans_skipped"]) == [FAILED_SPAN]
    assert xf["spans_unvalidated"] == ["2013-01-01", "2013-01-03"]
    manifest = read_json(Path(xf["transform_dir"]) / "manifest.json")
    assert manifest["rows"] == xf["rows"] and manifest["rows"]["train"] > 1500
    assert all(FAILED_SPAN not in f for f in manifest["raw_files"]["train"])
    assert len(manifest["raw_files"]["eval"]) == 3 and manifest["raw_eval_patterns"]
    out = Path(xf["transform_dir"])
    assert (out / "transform_output" / "metadata" / "schema.pbtxt").is_file()  # raw schema
    assert sorted(p.name for p in (out / "transformed").iterdir())[0].startswith("eval-")
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]
    assert xf["run_id"] == f"{END_SPAN}-w{WINDOW}"

    with pytest.raises(PipelineError) as err:
        cli(world["roots"], "transform", "--end-span", "2013-03-02", "--window", "2")
    assert err.value.rule == "min-spans" and "2013-03-01" in str(err.value)
    assert not (world["roots"].artifacts / "flights" / "transforms" / "2013-03-02-w2").exists()


def test_retraining_the_same_spans_is_byte_identical_and_a_changed_span_is_not(world, tmp_path):
    """Same spans, pipeline.yaml, module and seed: the same transform output, byte for byte, and
    the same weights; the digests say so in the results store. One changed row: new digests."""
    roots, first = world["roots"], world["transform"]
    again = cli(roots, "transform", "--end-span", END_SPAN, "--window", str(WINDOW), "--run-id", "again")
    assert again["digest"] == first["digest"] and len(first["digest"]) == 64
    trees = [Path(x["transform_dir"]) for x in (first, again)]  # (the first also holds a benchmark)
    files = [sorted(p.relative_to(t) for p in t.glob("transform*/**/*") if p.is_file()) for t in trees]
    assert files[0] == files[1] and len(files[0]) > 10
    for rel in files[0]:
        assert (trees[0] / rel).read_bytes() == (trees[1] / rel).read_bytes(), rel
    retrained = cli(
        roots,
        "train",
        "--transform-dir",
        again["transform_dir"],
        "--output",
        str(tmp_path / "m"),
        *TRAIN_ARGS,
    )
    assert retrained["weights_digest"] == world["train"]["weights_digest"]
    assert retrained["transform_digest"] == world["train"]["transform_digest"] == first["digest"]
    stored = {r["run_id"]: r for r in cli(roots, "results", "models", "--json")["rows"]}
    row = stored[Path(world["model"]).name]
    assert (row["transform_digest"], row["weights_digest"]) == (first["digest"], retrained["weights_digest"])

    shard = sorted((roots.artifacts / "flights" / "spans" / PASSED_SPAN / "examples" / "train").glob("*.gz"))[
        0
    ]
    original = shard.read_bytes()
    try:
        write_tfrecords(shard, list(read_tfrecords(shard))[:-1])  # the span lost one row
        changed = cli(
            roots, "transform", "--end-span", END_SPAN, "--window", str(WINDOW), "--run-id", "changed"
        )
    finally:
        shard.write_bytes(original)

    def train_rows(xf: dict) -> int:
        return sum(
            1 for f in Path(xf["transform_dir"]).glob("transformed/train-*") for _ in read_tfrecords(f)
        )

    assert train_rows(changed) == train_rows(first) - 1
    assert changed["digest"] != first["digest"]


def test_chain_serves_version_1_and_both_signatures_agree(world):
    import tensorflow as tf

    train, evaluation = world["train"], world["evaluation"]
    assert train["device"] == "CPU" and train["epochs"] == 2
    assert train["rows"] == world["transform"]["rows"]
    assert list((Path(train["tensorboard"]) / "train").glob("events.out.tfevents*"))
    assert not (Path(train["saved_model"]) / "tensorboard").exists()
    assert evaluation["blessed"] is True and evaluation["baseline"] is None
    assert evaluation["candidate"]["auc"] >= 0.65
    assert {"Overall", "carrier=UA", "origin=JFK"} <= set(evaluation["auc_by_slice"])
    metrics = evaluation["candidate"]
    assert {"example_count", "binary_accuracy", "precision", "recall", "calibration"} <= set(metrics)
    tfma_dir = Path(evaluation["evaluation_dir"]) / "tfma"
    assert (tfma_dir / "validations.tfrecord").is_file() and list(tfma_dir.glob("plots-*"))
    assert world["infra"]["passed"] is True
    assert (world["model"] / "infra_blessing.json").is_file()

    serving = ServingLayout(world["roots"].serving, "flights_delay")
    assert world["push"]["version"] == 1 and serving.versions() == [1]
    config = read_models_config(serving.models_config)["flights_delay"]
    assert config.base_path == str(serving.base)
    assert config.versions == (1,) and config.labels == {"stable": 1, "canary": 1}
    assert world["push"]["live_version"] == 1 and world["push"]["verified_by"].startswith("infra-validate")
    meta = serving.metadata(serving.version_dir(1))
    assert meta["blessed"] is True and meta["metrics"]["auc"] == metrics["auc"]

    loaded = tf.saved_model.load(str(serving.version_dir(1)))
    rows = _raw_eval_rows(world)
    by_example = loaded.signatures["serving_default"](examples=tf.constant(rows))
    raw_fn = loaded.signatures["serving_raw"]
    specs = raw_fn.structured_input_signature[1]
    assert "delayed" not in specs and "carrier" in specs
    raw = tf.io.parse_example(
        tf.constant(rows), {k: tf.io.FixedLenFeature([], s.dtype) for k, s in specs.items()}
    )
    by_raw = raw_fn(**raw)
    p1, p2 = (out["probabilities"].numpy().ravel() for out in (by_example, by_raw))
    assert p1.shape == (len(rows),) and np.all((p1 >= 0) & (p1 <= 1))
    assert np.allclose(p1, p2, atol=1e-6)
    assert p1.std() > 0.01  # the model discriminates, it is not a constant


def _shuffled_label_copy(transform_dir: Path, target: Path, seed: int = 7) -> Path:
    """A copy of a transform output whose TRAIN labels are randomly permuted (test-side)."""
    shutil.copytree(transform_dir, target)
    for shard in (target / "transformed").glob("train-*.tfrecord.gz"):
        decoded = [decode_example(r) for r in read_tfrecords(shard)]
        types = {k: KINDS[kind] for k, (kind, _) in decoded[0].items()}
        frame = pd.DataFrame([{k: v[0] for k, (_, v) in d.items()} for d in decoded])
        frame["delayed"] = np.random.default_rng(seed).permutation(frame["delayed"].to_numpy())
        write_tfrecords(shard, serialize_examples(frame, types))
    return target


def test_shuffled_label_model_is_not_blessed_and_push_refuses(world):
    roots, base = world["roots"], world["base"]
    xf = _shuffled_label_copy(Path(world["transform"]["transform_dir"]), base / "xf-shuffled")
    model = base / "models" / "shuffled"
    cli(roots, "train", "--transform-dir", str(xf), "--output", str(model), *TRAIN_ARGS)
    result = cli(roots, "evaluate", "--model", str(model))
    assert result["blessed"] is False
    assert result["baseline"]["version"] == 1
    assert result["failing_metric"] == "auc" and result["failing_slice"] == "Overall"
    assert tfma_says(result) is False  # TFMA's own record agrees: not blessed
    assert result["candidate"]["auc"] < world["evaluation"]["candidate"]["auc"] - 0.05
    blessing = read_json(Path(result["blessing"]))
    assert blessing["blessed"] is False and blessing["baseline_metrics"]["auc"] > 0.65
    with pytest.raises(PipelineError) as err:
        cli(roots, "push", "--model", str(model), "--blessing", result["blessing"])
    assert err.value.rule == "not-blessed"
    assert ServingLayout(roots.serving, "flights_delay").versions() == [1]


def _judging_cfg(**evaluation):
    """The flights config with `evaluation:` keys overridden. These 3 spans hold ~540 eval
    examples, so the minimum slice size is 50 (several carriers above it, several below)."""
    from ml.config import load_pipeline

    cfg = load_pipeline("flights")
    raw = copy.deepcopy(cfg.raw)
    raw["evaluation"].update({"min_slice_size": 50, "sensitivity": {"examples": 50, "grid": 4}} | evaluation)
    return dataclasses.replace(cfg, raw=raw)


def _evaluate(
    world: dict,
    cfg,
    model: Path,
    output: Path,
    baseline: Path | None = None,
    levers: TfmaLevers | None = None,
) -> dict:
    from ml.model.evaluate import evaluate
    from ml.model.layout import BaselineModel, EvaluationLayout

    blessing = evaluate(
        cfg,
        world["roots"],
        model,
        baseline=BaselineModel(baseline) if baseline else None,
        output=output,
        levers=levers or TfmaLevers(),
    )
    return {**blessing.model_dump(mode="json"), "blessing": str(EvaluationLayout(output).blessing)}


def test_evaluation_reports_benchmark_small_slices_gaps_calibration_and_sensitivity(world):
    blessing = read_json(Path(world["evaluation"]["blessing"]))
    analysis = read_json(Path(blessing["analysis"]))
    assert blessing["benchmark"]["kind"] == "logistic regression"
    side = blessing["side_by_side"]["auc"]
    assert side["candidate"] > side["benchmark"] > 0.6 and side["served"] is None
    checks = {c["check"]: c for c in blessing["checks"]}
    assert checks["auc vs benchmark"]["passed"] and checks["robustness probe"]["passed"]
    assert blessing["blessed"] and tfma_says(blessing) is True  # TFMA's own reader: validation_ok
    assert {"auc vs benchmark", "robustness probe"} <= set(blessing["beside_tfma"])
    sizes, small = analysis["slice_sizes"], blessing["too_small"]
    assert small and all(small[s] == f"too small (n={sizes[s]})" and sizes[s] < 100 for s in small)
    assert blessing["auc_by_slice"].get(next(iter(small))) is None  # TFMA computed nothing for it
    gaps = {(g["column"], g["metric"]): g for g in blessing["gaps"]}
    assert set(gaps) == {(c, m) for c in ("carrier", "origin") for m in ("fall_out", "miss_rate")}
    fpr = gaps["origin", "fall_out"]
    assert fpr["gap"] == pytest.approx(fpr["worst_value"] - fpr["best_value"], abs=1e-6)
    for model in ("candidate", "benchmark"):
        table = analysis["calibration"][model]
        assert sum(b["examples"] for b in table) == sizes["Overall"]
        assert all(0 <= b["lower"] <= b["mean_prediction"] <= b["upper"] <= 1 for b in table)
    curves = analysis["sensitivity"]["candidate"]
    assert set(curves) == {f.name for f in _judging_cfg().features}
    assert analysis["sensitivity"]["most_sensitive"][0] == "dep_delay"  # the delay drives the label
    probe = analysis["robustness"]
    assert probe["passed"] and probe["inputs"] == probe["edge_cases"] + 64 and probe["edge_cases"] > 20

    from ml.model.report import evaluation_report
    from ml_airflow.ui.render.tfma import context

    report = evaluation_report(Path(blessing["evaluation_dir"]))
    assert report.splitlines()[1].split() == ["metric", "candidate", "benchmark", "served"]
    smallest = min(small, key=sizes.__getitem__)
    assert f"{smallest}  {sizes[smallest]}" in report and f"too small (n={sizes[smallest]})" in report
    assert "robustness probe: " in report and "dep_delay: mean prediction" in report
    assert "[0.0, 0.1)" in report and "verdict: BLESSED: every check passed" in report
    page = context(Path(blessing["evaluation_dir"]))  # the ML view's run page: the same, as tables
    assert page["report"] == report
    head, rows = page["sections"]["slices"]
    assert head[:3] == ["slice", "n", "auc"] and [smallest, sizes[smallest]] == next(
        r[:2] for r in rows if r[0] == smallest
    )
    assert page["sections"]["verdict"].startswith("BLESSED") and page["sections"]["checks"][1]


def test_candidate_no_better_than_the_benchmark_is_not_blessed(world, tmp_path):
    """The candidate IS the benchmark: the logistic regression's own SavedModel (trained on this
    transform output by the first evaluation) put in a model dir. With nothing served, it clears
    the absolute AUC bound, but equal AUC does not beat the benchmark by the margin."""
    bench = Path(world["transform"]["transform_dir"]) / "benchmark"
    model = tmp_path / "benchmark-as-candidate"
    shutil.copytree(bench / "saved_model", model / "saved_model")
    shutil.copy2(world["model"] / "train_result.json", model / "train_result.json")
    result = _evaluate(world, _judging_cfg(), model, tmp_path / "eval")
    assert result["blessed"] is False and result["decided_by"] == "auc vs benchmark"
    assert "the benchmark (logistic regression)" in result["reason"] and "does not beat" in result["reason"]
    side = result["side_by_side"]["auc"]
    assert side["candidate"] == side["benchmark"] >= 0.65 and side["served"] is None
    assert next(c for c in result["checks"] if c["check"] == "auc on Overall")["passed"]


def _carrier_sizes(result: dict, min_size: int) -> tuple[str, str]:
    """The smallest carrier with >= min_size eval examples and the largest one below it."""
    sizes = {s: n for s, n in result["example_count_by_slice"].items() if s.startswith("carrier=")}
    big = min((s for s in sizes if sizes[s] >= min_size), key=sizes.__getitem__)
    small = max((s for s in sizes if 5 <= sizes[s] < min_size), key=sizes.__getitem__)
    return big.split("=")[1], small.split("=")[1]


def tfma_says(result: dict) -> bool:
    """`validation_ok` of the evaluation as TFMA's own reader sees it (not the project's code)."""
    import tensorflow_model_analysis as tfma

    if "tfma_dir" not in result:  # the CLI's summary: the blessing file holds the paths
        result = read_json(Path(result["blessing"]))
    ok = tfma.load_validation_result(result["tfma_dir"]).validation_ok
    assert ok == result["tfma_validation_ok"]
    return bool(ok)


def test_better_overall_but_worse_on_one_carrier_is_blocked_and_small_slices_never_decide(world, tmp_path):
    """Crafted honestly (tests/model_wrappers.py), from model 1 = served v1:
    - the served model it is judged against (`--baseline PATH`) is model 1 with a fixed
      pseudo-random offset added to every prediction except carrier BIG's (the smallest carrier
      with >= 50 eval examples): it ranks worse everywhere but on BIG;
    - the candidate is model 1 with the constant 0.2 for every flight of BIG and of SMALL (the
      largest carrier with < 50 examples): exact everywhere else, so better overall and on every
      other carrier, clearly worse on BIG and SMALL. Configured slice column: carrier."""
    cfg = _judging_cfg(benchmark=None, slice_thresholds={"columns": ["carrier"], "auc_max_drop": 0.02})
    big, small = _carrier_sizes(world["evaluation"], 50)
    served = wrap_model(world["model"], tmp_path / "served", blurred_except_carrier(big)) / "saved_model"
    both = wrap_model(world["model"], tmp_path / "both", constant_for_carriers((big, small), 0.2))
    result = _evaluate(world, cfg, both, tmp_path / "eval-both", baseline=served)
    assert result["blessed"] is False
    assert result["diff"]["auc"] > 0.01, result["side_by_side"]  # better overall than served ...
    assert next(c for c in result["checks"] if c["check"] == "auc on Overall")["passed"]
    assert result["decided_by"] == f"auc on carrier={big}"  # ... blocked by one carrier
    metrics = read_json(Path(result["evaluation_dir"]) / "metrics.json")[f"carrier={big}"]
    cand, base = metrics["candidate"]["auc"], metrics["baseline"]["auc"]
    assert cand == pytest.approx(0.5) and base > 0.6
    assert f"carrier={big}: auc {cand:.4f} vs served {base:.4f}" in result["reason"]
    assert "allowed drop 0.0200" in result["reason"]
    assert [f["slice"] for f in result["failures"]] == [f"carrier={big}"]
    n = result["example_count_by_slice"][f"carrier={small}"]
    ignored = {"slice": f"carrier={small}", "metric": "auc", "why": f"too small (n={n})"}
    assert ignored in result["ignored_failures"]
    assert tfma_says(result) is False  # TFMA's own record of the evaluation: the same verdict

    only_small = wrap_model(world["model"], tmp_path / "small", constant_for_carriers((small,), 0.2))
    result = _evaluate(world, cfg, only_small, tmp_path / "eval-small", baseline=served)
    assert result["blessed"] is True, result["reason"]  # the same damage on a small slice: no say
    assert result["too_small"][f"carrier={small}"] == f"too small (n={n})"
    assert ignored in result["ignored_failures"]
    assert tfma_says(result) is True  # TFMA was given no threshold it cannot evaluate


THRESHOLD_METRICS = {"binary_accuracy", "precision", "recall", "fall_out", "miss_rate"}


def test_fast_evaluation_computes_what_stock_tfma_computes_on_the_same_rows(world, tmp_path):
    """The levers of docs/how-to/performance.md (scores computed once outside TFMA, threshold
    metrics and calibration from AUC's histogram, slices by key) against TFMA's own way
    (`STOCK`: TFMA runs the three SavedModels, one combiner per metric, slices by value):
    the same slices, models and metrics, every value equal, or within one histogram bucket for
    the threshold metrics (a score within 1e-4 of 0.5 may land on the other side), the same
    blessing and the same TFMA validation result."""
    import tensorflow_model_analysis as tfma

    cfg = _judging_cfg(slice_thresholds={"columns": ["carrier", "origin"], "auc_max_drop": 0.02})
    big, _ = _carrier_sizes(world["evaluation"], 50)
    served = wrap_model(world["model"], tmp_path / "served", blurred_except_carrier(big)) / "saved_model"
    fast = _evaluate(world, cfg, world["model"], tmp_path / "fast", baseline=served)
    stock = _evaluate(world, cfg, world["model"], tmp_path / "stock", baseline=served, levers=STOCK)

    from ml.model.evaluate import load_models
    from ml.model.tfma_inputs import EvalRows

    rows = EvalRows.read(cfg, [Path(f) for f in fast["eval_files"]])
    models = {"candidate": world["model"] / "saved_model", "baseline": served}
    models["benchmark"] = Path(fast["benchmark"]["path"])
    scores = rows.score(load_models(cfg, models)).values()
    near = max(int(np.sum(np.abs(s - 0.5) < 1e-4)) for s in scores)  # within one bucket of 0.5
    got, want = (read_json(Path(r["evaluation_dir"]) / "metrics.json") for r in (fast, stock))
    assert set(got) == set(want) and len(got) > 5, set(got) ^ set(want)
    for slice_name, groups in want.items():
        assert set(got[slice_name]) == set(groups) == {"candidate", "baseline", "benchmark", "diff"}, (
            slice_name
        )
        for group, values in groups.items():
            assert set(got[slice_name][group]) == set(values), (slice_name, group)
            for metric, value in values.items():
                tolerance = 1e-5 + (
                    near / fast["example_count_by_slice"][slice_name] if metric in THRESHOLD_METRICS else 0
                )
                assert got[slice_name][group][metric] == pytest.approx(value, abs=tolerance), (
                    slice_name,
                    group,
                    metric,
                )
    same = (
        "blessed",
        "decided_by",
        "failures",
        "ignored_failures",
        "tfma_validation_ok",
        "too_small",
        "gaps",
    )
    assert {k: fast[k] for k in same} == {k: stock[k] for k in same}
    assert tfma_says(fast) == tfma_says(stock)
    spec = tfma.load_eval_result(fast["tfma_dir"]).config.model_specs[0]  # TFMA reads it back
    assert spec.prediction_key == "__score_candidate" and not spec.signature_name


def test_model_returning_nan_for_an_edge_case_is_not_pushed(world, tmp_path):
    """Model 1 wrapped to return NaN when dep_delay >= 2000, pipeline.yaml's maximum for it: no
    real flight of these spans gets there, so every TFMA metric equals the served model's (v1
    is model 1); only the robustness probe's edge case `dep_delay=2000.0 (max)` finds it."""
    roots = world["roots"]
    serving = ServingLayout(roots.serving, "flights_delay")
    before = serving.versions()
    model = wrap_model(world["model"], tmp_path / "nan", nan_from_dep_delay(2000.0))
    result = _evaluate(world, _judging_cfg(), model, tmp_path / "eval", baseline=serving.version_dir(1))
    assert result["diff"]["auc"] == pytest.approx(0.0, abs=1e-6)
    assert result["sharp_changes"] == []  # on the observed range it is model 1, curve for curve
    assert result["blessed"] is False and result["decided_by"] == "robustness probe"
    assert "input dep_delay=2000.0 (max): prediction nan" in result["reason"]
    assert tfma_says(result) is True and "robustness probe" in result["beside_tfma"]  # not TFMA's
    with pytest.raises(PipelineError) as err:
        cli(roots, "push", "--model", str(model), "--blessing", result["blessing"])
    assert err.value.rule == "not-blessed" and "dep_delay=2000.0 (max)" in str(err.value)
    assert serving.versions() == before


def test_second_model_interrupted_push_then_version_2_then_rollback(world, monkeypatch):
    roots, base = world["roots"], world["base"]
    serving = ServingLayout(roots.serving, "flights_delay")
    # Model 2 is model 1 recalibrated: a model trained again may lose a slice of ~140 examples
    # by more than the allowed 0.02 AUC through training noise alone (seen in CI), while this
    # one ranks every slice exactly as version 1 does, so it is blessed, and predicts otherwise.
    model = wrap_model(world["model"], base / "models" / "m2", recalibrated(0.9, 0.05))
    evaluation = cli(roots, "evaluate", "--model", str(model), "--baseline", "auto")
    assert evaluation["blessed"] is True, evaluation
    assert evaluation["baseline"]["version"] == 1 and "auc" in evaluation["diff"]

    with pytest.raises(PipelineError) as err:  # blessed, but not infra-validated yet
        cli(roots, "push", "--model", str(model), "--blessing", evaluation["blessing"])
    assert err.value.rule == "not-infra-validated"
    cli(roots, "infra-validate", "--model", str(model))

    config_before = serving.models_config.read_text()
    real_copy, calls = shutil.copy2, []

    def copy_then_fail(src, dst, *args, **kwargs):
        calls.append(src)
        if len(calls) == 3:
            raise OSError("disk full (injected by the test)")
        return real_copy(src, dst, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(shutil, "copy2", copy_then_fail)
        with pytest.raises(OSError, match="injected"):
            cli(roots, "push", "--model", str(model), "--blessing", evaluation["blessing"])
    assert len(calls) == 3
    assert serving.versions() == [1] and sorted(p.name for p in serving.base.iterdir()) == ["1"]
    assert serving.models_config.read_text() == config_before

    stale = serving.base / ".push-tmp-9-12345"  # what a SIGKILLed push would leave behind
    (stale / "variables").mkdir(parents=True)
    pushed = cli(roots, "push", "--model", str(model), "--blessing", evaluation["blessing"])
    assert pushed["version"] == 2 and pushed["stale_copies_removed"] == [str(stale)]
    assert serving.versions() == [1, 2] and not stale.exists()
    assert (serving.version_dir(2) / "saved_model.pb").is_file()
    status = cli(roots, "serving-status")
    assert status["live_version"] == 2
    assert [v["live"] for v in status["versions"]] == [False, True]

    with pytest.raises(PipelineError) as err:  # model 1's blessing compared against nothing
        cli(roots, "push", "--model", str(world["model"]), "--blessing", world["evaluation"]["blessing"])
    assert err.value.rule == "blessing-stale"

    assert pushed["labels"] == {"stable": 2, "canary": 2} and pushed["previous_stable"] == 1
    assert pushed["loaded_versions"] == [1, 2]

    rolled = cli(roots, "rollback", "--to-version", "1")
    assert rolled["stable"] == 1 and rolled["previous_stable"] == 2 and rolled["live_version"] == 1
    assert serving.versions() == [1, 2] and serving.retired_versions() == []  # 2 stays loaded
    assert read_models_config(serving.models_config)["flights_delay"].labels == {"stable": 1, "canary": 1}
    assert serving.next_version() == 3  # numbers are never reused
    with pytest.raises(PipelineError) as err:
        cli(roots, "rollback")
    assert err.value.rule == "rollback-last-version" and serving.versions() == [1, 2]
    status = cli(roots, "serving-status")
    assert status["live_version"] == 1 and status["labels"] == {"stable": 1, "canary": 1}
    assert [(v["version"], v["labels"], v["loaded"]) for v in status["versions"]] == [
        (1, ["canary", "stable"], True),
        (2, [], True),
    ]
    assert [e["event"] for e in status["label_history"]] == ["promote", "promote", "rollback"]
    _results_store_holds_the_history(world)


def _results_store_holds_the_history(world: dict) -> None:
    """Every evaluation, push and rollback above landed in the results store, with lineage."""
    from ml.config import load_pipeline
    from ml.results import open_store, queries

    roots, first = world["roots"], Path(world["model"]).name
    store = open_store(load_pipeline("flights"), roots)
    runs = {m["run_id"]: m for m in queries.models(store, "flights")}
    assert set(runs) == {first, "shuffled", "m2"}
    assert runs[first]["live"] and runs[first]["pushed_version"] == 1 and runs[first]["blessed"]
    assert runs["m2"]["pushed_version"] == 2 and not runs["m2"]["live"]
    assert runs["shuffled"]["blessed"] is False and runs["shuffled"]["decided_by"] == "auc on Overall"
    events = [(e["version"], e["event"], e["run_id"]) for e in queries.serving_events(store, "flights")]
    assert events == [
        (1, "canary", first),
        (1, "promote", first),
        (1, "push", first),
        (1, "stable", first),
        (2, "promote", "m2"),
        (2, "push", "m2"),
        (2, "rollback", "m2"),
    ]
    trained = sorted(read_json(Path(world["model"]) / "train_result.json")["spans"])
    assert queries.spans_of_version(store, "flights", 1) == trained  # which spans trained the live model
    seen = queries.models_of_span(store, "flights", trained[0])  # which models saw this span
    assert {(r["run_id"], r["role"]) for r in seen} >= {(first, "train"), ("m2", "train"), (first, "eval")}
    overall = [
        m
        for m in queries.model_metrics(store, "flights", first)
        if m["slice"] == "Overall" and m["metric"] == "auc"
    ]
    assert [m["value"] for m in overall if m["model"] == "candidate"] == [
        world["evaluation"]["candidate"]["auc"]
    ]
    assert [m["value"] for m in overall if m["model"] == "benchmark"] == [
        read_json(Path(world["evaluation"]["blessing"]))["benchmark_metrics"]["auc"]
    ]

    def snapshot() -> dict:
        # span rows: tests/integration/test_drift.py (this fixture hand-writes verdicts, bypassing validate)
        return {
            "models": queries.models(store, "flights"),
            "metrics": queries.model_metrics(store, "flights"),
            "events": queries.serving_events(store, "flights"),
            "lineage": [queries.models_of_span(store, "flights", s) for s in trained],
        }

    before = snapshot()
    assert cli(roots, "results", "rebuild")["models"] == 3
    assert snapshot() == before
    table = cli(roots, "results", "models")["text"].splitlines()
    assert table[0].split()[:3] == ["run", "window", "AUC"] and len(table) == 2 + 3
    by_version = cli(roots, "results", "models", "--slices")  # each slice's AUC per version
    cells = {(r["run_id"], r["slice"]): r for r in by_version["rows"]}
    assert cells[first, "Overall"]["value"] == world["evaluation"]["candidate"]["auc"]
    assert cells[first, "origin=JFK"]["pushed_version"] == 1 and ("m2", "origin=JFK") in cells
    head, _, overall_line, *_ = by_version["text"].splitlines()
    assert head.split("  ")[0] == "slice" and f"{first} (v1)" in head and "m2 (v2)" in head
    assert overall_line.startswith("Overall")


def _push(roots: Roots, model: str, blessing: str, url: str) -> dict:
    return cli(
        roots, "push", "--model", model, "--blessing", blessing, "--serving-url", url, "--timeout", "30"
    )


def test_push_promotes_by_labels_through_the_double_and_rollback_is_instant(world, tmp_path):
    """A real push through the double's REST API (it reads models.config like TF Serving):
    load -> canary -> smoke on /labels/canary -> stable; then rollback moves stable back."""
    model, blessing = str(world["model"]), world["evaluation"]["blessing"]
    ok_roots = Roots.resolve(world["roots"].data, world["roots"].artifacts, tmp_path / "ok")
    ok = ServingLayout(ok_roots.serving, "flights_delay")
    with TFServingDouble(None, "flights_delay", config_file=ok.models_config) as double:
        pushed = _push(ok_roots, model, blessing, double.url)
        assert pushed["version"] == 1 and pushed["serving"]["state"] == "AVAILABLE"
        assert pushed["serving"]["smoke_label"] == "canary" and pushed["labels"] == {"stable": 1, "canary": 1}
        assert len(pushed["serving"]["smoke_predictions"]) == 5
        assert all(0 <= p <= 1 for p in pushed["serving"]["smoke_predictions"])
        assert "POST /v1/models/flights_delay/labels/canary:predict" in double.requests
        assert not [r for r in double.requests if "/versions/" in r]  # clients' paths only

        # version 2: m2 was blessed against version 1, which is stable here too
        m2 = world["base"] / "models" / "m2"
        m2_blessing = str(world["base"] / "artifacts" / "flights" / "evaluations" / "m2" / "blessing.json")
        before = len(double.requests)
        pushed = _push(ok_roots, str(m2), m2_blessing, double.url)
        assert pushed["version"] == 2 and pushed["labels"] == {"stable": 2, "canary": 2}
        calls = double.requests[before:]
        smoke = calls.index("POST /v1/models/flights_delay/labels/canary:predict")
        assert "GET /v1/models/flights_delay/labels/stable" in calls[smoke:]
        assert "GET /v1/models/flights_delay/labels/stable" not in calls[:smoke]  # stable moved last
        status = cli(ok_roots, "serving-status", "--serving-url", double.url)
        assert status["labels"] == {"stable": 2, "canary": 2}
        assert [s["version"] for s in status["tf_serving"]["labels/stable"]] == [2]
        assert [(s["version"], s["state"]) for s in status["tf_serving"]["versions"]] == [
            (2, "AVAILABLE"),
            (1, "AVAILABLE"),
        ]
        rows = _instances(world, 3)
        by_2 = client.predict(double.url, "flights_delay", rows, "serving_raw", label="stable")

        rolled = cli(ok_roots, "rollback", "--serving-url", double.url, "--timeout", "30")
        assert rolled["stable"] == 1 and ok.versions() == [1, 2] and ok.retired_versions() == []
        by_1 = client.predict(double.url, "flights_delay", rows, "serving_raw", label="stable")
        assert by_1 == client.predict(double.url, "flights_delay", rows, "serving_raw", version=1)
        assert by_1 != by_2
        assert double.config_errors == []


def _instances(world: dict, count: int) -> list[dict]:
    return [to_instance(r, drop=("delayed",)) for r in _raw_eval_rows(world, count)]


def test_clients_may_leave_out_optional_features_through_tf_servings_rest_api(world):
    """`:regress` on `serving_regress` fills the pipeline.yaml defaults for features left out;
    `:predict` on `serving_raw` wants every input, as TF Serving's row format does."""
    from ml.config import load_pipeline

    cfg = load_pipeline("flights")
    optional = {f.name: f.default for f in cfg.features if f.default is not None}
    assert {"dep_delay", "temp", "precip"} <= set(optional)
    serving = ServingLayout(world["roots"].serving, "flights_delay")
    full = _instances(world, 4)
    partial = [{k: v for k, v in row.items() if k not in optional} for row in full]
    filled = [{**row, **{k: float(v) for k, v in optional.items()}} for row in partial]
    allow = {"allow_version_labels_for_unavailable_models": True}  # started on a labelled config
    with TFServingDouble(None, "flights_delay", config_file=serving.models_config, **allow) as double:
        url = f"{double.url}/v1/models/flights_delay/labels/stable"

        def regress(examples: list[dict]) -> list[float]:
            body = {"signature_name": "serving_regress", "examples": examples}
            return client._call(f"{url}:regress", body)["result"]

        by_raw = client.predict(double.url, "flights_delay", filled, "serving_raw", label="stable")
        by_partial = regress(partial)
        assert np.allclose(by_partial, [p[0] for p in by_raw], atol=1e-6)  # the defaults were used
        assert np.allclose(
            regress(full),
            [p[0] for p in client.predict(double.url, "flights_delay", full, "serving_raw", label="stable")],
            atol=1e-6,
        )
        assert not np.allclose(regress(full), by_partial)  # the omitted values mattered
        with pytest.raises(client.RequestFailed, match="must only have keys"):
            client.predict(double.url, "flights_delay", partial, "serving_raw", label="stable")
        with pytest.raises(client.RequestFailed, match="carrier"):  # no default: required
            regress([{k: v for k, v in row.items() if k != "carrier"} for row in partial])


def test_push_retires_the_version_when_tf_serving_cannot_load_it(world, tmp_path):
    model, blessing = str(world["model"]), world["evaluation"]["blessing"]
    bad_roots = Roots.resolve(world["roots"].data, world["roots"].artifacts, tmp_path / "bad")
    bad = ServingLayout(bad_roots.serving, "flights_delay")
    with TFServingDouble(None, "flights_delay", fail_versions=(1,), config_file=bad.models_config) as double:
        with pytest.raises(PipelineError) as err:
            _push(bad_roots, model, blessing, double.url)
    assert err.value.rule == "serving-load" and "retired" in str(err.value)
    assert bad.versions() == [] and bad.retired_versions() == [1]
    assert "flights_delay" not in read_models_config(bad.models_config)  # as before the push
    reason = read_json(bad.retired / "1" / "assets.extra" / "retired.json")["reason"]
    assert "failed" in reason


def test_infra_validate_fails_clearly_on_a_broken_model(world, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(world["model"], broken)
    (broken / "saved_model" / "saved_model.pb").write_bytes(b"not a SavedModel")
    with pytest.raises(PipelineError) as err:
        cli(world["roots"], "infra-validate", "--model", str(broken))
    assert err.value.rule == "infra-validation"
    record = json.loads((broken / "infra_blessing.json").read_text())
    assert record["passed"] is False and record["error"]
