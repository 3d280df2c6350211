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

ROOT = Path(__file__).resolve().parent.parent
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
