"""Fast checks of the model/serving helpers (no training): decoding, models.config, lock,
import boundaries of the trainer container command."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest

from ml.data.examples import serialize_examples
from ml.errors import PipelineError
from ml.model.tf_example import decode_example, to_instance
from ml.serving.layout import ServingLayout
from ml.serving.lock import serving_lock
from ml.serving.models_config import ModelEntry, read_entries, upsert

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_TRAINER = {
    "tensorflow_data_validation",
    "tensorflow_model_analysis",
    "great_expectations",
    "airflow",
}


def test_decode_example_round_trips_the_ingest_encoder():
    frame = pd.DataFrame({"carrier": ["UA", "B6"], "hour": [5, -3], "dep_delay": [1.5, -2.25]})
    types = {"carrier": "string", "hour": "int", "dep_delay": "float"}
    first, second = serialize_examples(frame, types)
    assert decode_example(first) == {
        "carrier": ("bytes", [b"UA"]),
        "hour": ("int", [5]),
        "dep_delay": ("float", [1.5]),
    }
    assert to_instance(second, drop=("hour",)) == {"carrier": "B6", "dep_delay": -2.25}


def test_models_config_upsert_keeps_other_models(tmp_path):
    path = tmp_path / "models.config"
    upsert(path, ModelEntry("other", "/models/other", (1,), {"stable": 1}))
    upsert(path, ModelEntry("flights_delay", "/models/flights_delay", (1,)))
    upsert(path, ModelEntry("flights_delay", "/srv/flights_delay", (1, 2), {"stable": 2}))
    assert read_entries(path) == {"other": "/models/other", "flights_delay": "/srv/flights_delay"}
    text = path.read_text()
    assert text.count("config {") == 2 and text.count('model_platform: "tensorflow"') == 2
    assert text.count("specific {") == 2 and text.count("version_labels {") == 2


def test_serving_lock_excludes_a_second_holder(tmp_path):
    lock = tmp_path / ".lock"
    with serving_lock(lock):
        with pytest.raises(PipelineError) as err, serving_lock(lock, timeout_s=0.3):
            pass
        assert err.value.rule == "serving-lock"
    with serving_lock(lock, timeout_s=0.3):  # released again
        pass


def test_next_version_counts_retired_versions(tmp_path):
    layout = ServingLayout(tmp_path, "m")
    for folder in (layout.base / "1", layout.base / ".push-tmp-7-1", layout.retired / "4"):
        folder.mkdir(parents=True)
    assert layout.versions() == [1] and layout.retired_versions() == [4]
    assert layout.latest() == 1 and layout.next_version() == 5


def _module_file(name: str) -> Path | None:
    """The source file of an `ml.*` module, found without importing it (None if not a module)."""
    base = ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imports(path: Path, *, nested: bool) -> set[str]:
    """Modules imported by a file (top level only, or also inside functions)."""
    tree = ast.parse(path.read_text())
    nodes = ast.walk(tree) if nested else iter(tree.body)
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _closure(roots: list[str], nested_for: set[str]) -> set[str]:
    """Every module reachable through `ml.*` imports (external ones listed, not followed)."""
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_file(name) if name.split(".")[0] == "ml" else None
        if path:
            todo.extend(_imports(path, nested=name in nested_for))
    return seen


def test_trainer_container_path_never_imports_tfdv_tfma_ge_or_airflow():
    commands = [f"ml.commands.{p.stem}" for p in (ROOT / "ml" / "commands").glob("[!_]*.py")]
    # `python -m ml train` imports the CLI and every command module's top level, then runs
    # train.run(), whose function-level imports pull in the trainer.
    reached = _closure(["ml.cli", *commands], nested_for={"ml.commands.train"})
    assert "ml.model.trainer" in reached and "tensorflow_transform" in reached
    bad = sorted(m for m in reached if m.split(".")[0] in FORBIDDEN_IN_TRAINER)
    assert not bad, f"the trainer container command would import {bad}"


def _gate_cfg(**evaluation):
    import copy
    import dataclasses

    from ml.config import load_pipeline

    cfg = load_pipeline("flights")
    raw = copy.deepcopy(cfg.raw)
    raw["evaluation"].update(evaluation)
    return dataclasses.replace(cfg, raw=raw)


GATE_METRICS = {
    "Overall": {"candidate": {"auc": 0.9}, "benchmark": {"auc": 0.85}, "baseline": {"auc": 0.9}},
    "carrier=UA": {"candidate": {"auc": 0.7}, "baseline": {"auc": 0.8}},
}
UA_FAILURE = {"metric": "auc", "model": "candidate", "slice": "carrier=UA", "is_diff": True}
UA_FAILURE |= {"value": -0.1, "bound": -0.02}
HA_FAILURE = {"metric": "auc", "model": "candidate", "slice": "carrier=HA", "value": None}
HA_FAILURE |= {"is_diff": False, "bound": 0.65, "message": "Metric not found."}


def test_gate_names_the_deciding_check_and_small_slices_never_decide():
    from ml.model.gate import judge

    cfg, sizes = _gate_cfg(), {"Overall": 900, "carrier=UA": 300, "carrier=HA": 4}
    probe = {"passed": True, "inputs": 10, "failures": []}
    verdict = judge(cfg, GATE_METRICS, [HA_FAILURE, UA_FAILURE], sizes, robustness=probe, gaps=[])
    assert verdict["blessed"] is False and verdict["decided_by"] == "auc on carrier=UA"
    assert verdict["reason"] == (
        "carrier=UA: auc 0.7000 vs served 0.8000 (change -0.1000, allowed drop 0.0200)"
    )
    assert verdict["ignored"] == [{"slice": "carrier=HA", "metric": "auc", "why": "too small (n=4)"}]
    alone = judge(cfg, GATE_METRICS, [HA_FAILURE], sizes, robustness=probe, gaps=[])
    assert alone["blessed"] is True and alone["reason"] == "every check passed"

    broken = {"passed": False, "inputs": 10, "failures": [{"input": "temp=130.0 (max)", "prediction": "nan"}]}
    first = judge(cfg, GATE_METRICS, [UA_FAILURE], sizes, robustness=broken, gaps=[])
    assert first["decided_by"] == "robustness probe" and "temp=130.0 (max)" in first["reason"]

    beaten = {**GATE_METRICS, "Overall": {**GATE_METRICS["Overall"], "benchmark": {"auc": 0.9}}}
    verdict = judge(cfg, beaten, [], sizes, robustness=probe, gaps=[])
    assert (
        verdict["decided_by"] == "auc vs benchmark"
        and "benchmark (logistic regression) auc 0.9000" in (verdict["reason"])
    )


def test_slice_gaps_use_only_slices_with_enough_examples_and_warn_or_block():
    from ml.model.gate import judge
    from ml.model.slices import slice_gaps

    metrics = {
        "Overall": {"candidate": {"auc": 0.9, "fall_out": 0.1}},
        "carrier=UA": {"candidate": {"fall_out": 0.05}},
        "carrier=B6": {"candidate": {"fall_out": 0.45}},
        "carrier=HA": {"candidate": {"fall_out": 1.0}},  # 3 flights: not a slice to judge
        "origin=JFK": {"candidate": {"fall_out": 0.9}},
    }
    sizes = {"Overall": 900, "carrier=UA": 300, "carrier=B6": 200, "carrier=HA": 3, "origin=JFK": 400}
    gaps = slice_gaps(metrics, sizes, ["carrier"], 100, {"max_fpr_gap": 0.3})
    assert gaps == [
        {
            "column": "carrier",
            "metric": "fall_out",
            "best": "carrier=UA",
            "best_value": 0.05,
            "worst": "carrier=B6",
            "worst_value": 0.45,
            "gap": 0.4,
            "max_gap": 0.3,
            "within": False,
            "slices": 2,
        }
    ]
    for severity, blessed in (("warn", True), ("block", False)):
        cfg = _gate_cfg(gaps={"columns": ["carrier"], "max_fpr_gap": 0.3, "severity": severity})
        verdict = judge(cfg, metrics, [], sizes, robustness=None, gaps=gaps)
        assert verdict["blessed"] is blessed
        assert ("fall_out gap on carrier" == verdict["decided_by"]) is not blessed
        assert bool(verdict["warnings"]) is blessed


def test_sharp_changes_list_features_whose_partial_dependence_moved():
    from ml.model.sensitivity import sharp_changes

    def curve(values, means):
        return {"values": values, "mean_prediction": means}

    carriers = ["UA", "AA"]
    candidate = {"dep_delay": curve([0, 60, 120], [0.1, 0.5, 0.9]), "carrier": curve(carriers, [0.2, 0.3])}
    served = {"dep_delay": curve([0, 60, 120], [0.1, 0.2, 0.85]), "carrier": curve(carriers, [0.25, 0.3])}
    assert sharp_changes(candidate, served, 0.1) == [
        {"feature": "dep_delay", "at": 60, "candidate": 0.5, "served": 0.2, "max_abs_diff": 0.3}
    ]
    assert sharp_changes(candidate, served, 0.3) == [] and sharp_changes(candidate, {}, 0.0) == []


class _ShortDomain:
    """A TFTransformOutput whose recorded domain (5 buckets) is shorter than the ids it gives."""

    def transformed_feature_spec(self) -> dict:
        import tensorflow as tf

        return {
            "dest_xf": tf.io.FixedLenFeature([], tf.int64),
            "distance_xf": tf.io.FixedLenFeature([], tf.float32),
            "delayed": tf.io.FixedLenFeature([], tf.int64),
        }

    def num_buckets_for_transformed_feature(self, name: str) -> int:
        return 5


def test_the_benchmark_takes_ids_beyond_tfts_recorded_domain(tmp_path):
    import numpy as np
    import tensorflow as tf

    from ml.model.benchmark import build_benchmark

    model = build_benchmark(_ShortDomain(), "delayed")
    ids = np.array([0, 4, 5, 9, 93])  # 93: the id that failed a retrain's benchmark on flights
    scores = model({"dest_xf": ids, "distance_xf": np.zeros(5, np.float32)}).numpy().ravel()
    assert scores.shape == (5,) and np.all((scores > 0) & (scores < 1))
    weights = model.get_layer("dest_xf_w").get_weights()[0]
    assert weights.shape == (6, 1)  # the domain + one spare row; ids beyond share the last one
    model.save(str(tmp_path / "benchmark"), save_format="tf")  # as export_serving_model does
    loaded = tf.saved_model.load(str(tmp_path / "benchmark"))
    again = loaded({"dest_xf": tf.constant(ids), "distance_xf": tf.zeros(5)}).numpy().ravel()
    assert np.allclose(again, scores)
