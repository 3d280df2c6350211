"""A held-out test split (split.test_percent) on real spans: ingest writes it from the stable
hash, training never reads it, evaluation judges on it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

import ml.config as config
from ml.model.blessing import Blessing
from ml.roots import Roots
from ml.tfrecord import read_tfrecords

from conftest import cli

SPANS = ("2013-01-01", "2013-01-02", "2013-01-03")


@pytest.fixture
def heldout(tmp_path, monkeypatch) -> str:
    """The flights pipeline with `split.test_percent: 20`, as pipeline `heldout`."""
    folder = tmp_path / "pipelines"
    shutil.copytree(config.PIPELINES_DIR / "flights", folder / "heldout")
    spec = yaml.safe_load((folder / "heldout" / "pipeline.yaml").read_text())
    spec["split"]["test_percent"] = 20
    spec["name"], spec["model_name"] = "heldout", "heldout_delay"  # its own artifacts, same landing
    (folder / "heldout" / "pipeline.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    shutil.copytree(config.PIPELINES_DIR / "weather", folder / "weather")
    shutil.copytree(config.PIPELINES_DIR / "flights", folder / "flights")
    monkeypatch.setattr(config, "PIPELINES_DIR", folder)
    config.load_pipeline.cache_clear()
    yield "heldout"
    config.load_pipeline.cache_clear()


def records(folder: Path) -> list[bytes]:
    """The split's serialized examples, in order."""
    return [record for f in sorted(folder.glob("*.gz")) for record in read_tfrecords(f)]


@pytest.mark.slow
def test_evaluation_judges_the_held_out_test_split_training_never_saw(heldout, tmp_path, landed_data_root):
    roots = Roots.resolve(landed_data_root, tmp_path / "artifacts", tmp_path / "serving")
    for span in SPANS:
        summary = cli(roots, "ingest", "--span", span, pipeline=heldout)
        out = summary["rows_out"]
        assert set(out) == {"train", "eval", "test"} and out["test"] > 50
        assert sum(out.values()) == summary["rows_in"] - sum(summary["rows_dropped"].values())
    examples = roots.artifacts / heldout / "spans" / SPANS[0] / "examples"
    test = records(examples / "test")
    # adding the test split left every eval example of the plain pipeline where it was, and the
    # test rows came out of its train split
    plain = Roots.resolve(landed_data_root, tmp_path / "plain", tmp_path / "plain-serving")
    cli(plain, "ingest", "--span", SPANS[0])
    plain_examples = plain.artifacts / "flights" / "spans" / SPANS[0] / "examples"
    assert records(plain_examples / "eval") == records(examples / "eval")
    assert sorted(records(plain_examples / "train")) == sorted(records(examples / "train") + test)

    xf = cli(roots, "transform", "--end-span", SPANS[-1], "--window", "3", "--run-id", "w3", pipeline=heldout)
    assert xf["rows"]["test"] > 150
    model = cli(roots, "train", "--transform-dir", xf["transform_dir"], "--epochs", "2", pipeline=heldout)
    judged = cli(roots, "evaluate", "--model", model["model_dir"], "--baseline", "none", pipeline=heldout)
    blessing = Blessing.read(Path(judged["blessing"]))
    assert blessing.judged_split == "test" and judged["judged_split"] == "test"
    assert blessing.eval_files and all("/examples/test/" in f for f in blessing.eval_files)
    assert blessing.example_count_by_slice["Overall"] == xf["rows"]["test"]  # every test row, judged
    assert "on the held-out test split" in blessing.summary()
