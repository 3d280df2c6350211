"""Version labels without training: models.config round trip, TF Serving's label rule in the
double (tests/tf_serving_double.py), and promotion / retention / rollback over tiny SavedModels."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.errors import PipelineError
from ml.serving import labels
from ml.serving import tf_serving_client as client
from ml.serving.layout import ServingLayout
from ml.serving.models_config import ModelEntry, parse, read, render, upsert
from ml.serving.rollback import retire_version

from tf_serving_double import TFServingDouble

MODEL = "m"


def _save_constant_model(folder: Path, value: float) -> None:
    """A SavedModel whose `serving_raw(x)` answers `value` for every row."""
    import tensorflow as tf

    class Constant(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def serve(self, x):
            return {"probabilities": tf.zeros_like(x) + value}

    module = Constant()
    tf.saved_model.save(module, str(folder), signatures={"serving_raw": module.serve})


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory) -> Path:
    """Version folders 1..4 of model `m`, version v answering v / 10."""
    folder = tmp_path_factory.mktemp("saved")
    for version in (1, 2, 3, 4):
        _save_constant_model(folder / str(version), version / 10)
    return folder


def _serving_root(tmp_path: Path, saved: Path, versions: tuple[int, ...]) -> ServingLayout:
    import shutil

    serving = ServingLayout(tmp_path / "serving", MODEL)
    for version in versions:
        shutil.copytree(saved / str(version), serving.version_dir(version))
    return serving


def _predict(url: str, label: str) -> float:
    (value,) = client.predict(url, MODEL, [{"x": 0.0}], "serving_raw", label=label)
    return round(float(value), 6)


def test_models_config_round_trips_through_tf_servings_proto(tmp_path):
    path = tmp_path / "models.config"
    upsert(path, ModelEntry("other", "/models/other"))
    upsert(path, ModelEntry(MODEL, "/srv/m", (1, 3), {"stable": 1, "canary": 3}))
    text = path.read_text()
    assert "specific" in text and 'key: "canary"' in text and "latest" in text  # other: latest policy
    entries = read(path)
    assert entries[MODEL] == ModelEntry(MODEL, "/srv/m", (1, 3), {"stable": 1, "canary": 3})
    assert entries["other"].versions is None
    assert parse(render(entries)) == entries
    with pytest.raises(PipelineError) as err:
        parse("model_config_list { config { nmae: 'x' } }", "bad.config")
    assert err.value.rule == "models-config" and "bad.config" in str(err.value)


def test_double_refuses_a_label_on_a_version_that_is_not_available(tmp_path, saved_models):
    serving = _serving_root(tmp_path, saved_models, (1, 2))
    config = serving.models_config

    def write(versions: tuple[int, ...], names: dict[str, int]) -> None:
        upsert(config, ModelEntry(MODEL, str(serving.base), versions, names))

    write((1,), {})
    with TFServingDouble(None, MODEL, config_file=config) as double:
        assert [s["version"] for s in client.model_status(double.url, MODEL)] == [1]
        # loading version 2 and labelling it in the same change: refused, as a whole
        write((1, 2), {"stable": 2})
        assert [s["version"] for s in client.model_status(double.url, MODEL)] == [1]
        assert "version 2 of model m, which is not currently available" in double.config_errors[-1]
        with pytest.raises(client.RequestFailed, match="Unrecognized servable version label: stable"):
            client.model_status(double.url, MODEL, label="stable")
        write((1, 2), {"stable": 1})  # load 2 first; label what is available
        assert [s["version"] for s in client.model_status(double.url, MODEL)] == [2, 1]
        assert _predict(double.url, "stable") == 0.1
        write((1, 2), {"stable": 2})  # now 2 is AVAILABLE: the label moves
        assert _predict(double.url, "stable") == 0.2
        assert client.model_status(double.url, MODEL, label="stable")[0]["version"] == 2

    config.unlink()
    write((1,), {"stable": 1})  # at start-up nothing is loaded yet
    with TFServingDouble(None, MODEL, config_file=config) as double:
        assert client.model_status(double.url, MODEL) == []  # TF Serving would not even start
        assert "version 1" in double.config_errors[-1]
    with TFServingDouble(
        None, MODEL, config_file=config, allow_version_labels_for_unavailable_models=True
    ) as d:
        assert _predict(d.url, "stable") == 0.1 and d.config_errors == []
        write((1, 2), {"stable": 2})  # the flag covers new labels only, not moving one
        assert _predict(d.url, "stable") == 0.1 and "version 2" in d.config_errors[-1]
        write((1, 2), {"stable": 1, "canary": 2})
        assert (_predict(d.url, "stable"), _predict(d.url, "canary")) == (0.1, 0.2)


def test_push_promotes_through_canary_and_rollback_moves_stable_back(tmp_path, saved_models):
    """roll_out + retain + move_stable against the double reading models.config."""
    serving = _serving_root(tmp_path, saved_models, ())
    retire = lambda v, why: retire_version(serving, v, why)  # noqa: E731
    smoked: list[str] = []

    def smoke(label: str) -> dict:
        smoked.append(label)
        return {"smoke_label": label, "smoke_predictions": [_predict(double.url, label)]}

    with TFServingDouble(None, MODEL, config_file=serving.models_config) as double:
        for version in (1, 2, 3, 4):
            import shutil

            shutil.copytree(saved_models / str(version), serving.version_dir(version))
            rolled = labels.roll_out(
                serving, str(serving.base), version, url=double.url, timeout_s=10, smoke=smoke
            )
            assert rolled["labels"] == {"stable": version, "canary": version}
            assert rolled["smoke_predictions"] == [version / 10]
            assert _predict(double.url, "stable") == version / 10
            labels.retain(serving, 2, retire)
        assert smoked == ["canary"] * 4 and double.config_errors == []
        # promotion order: the version loaded, then canary moved, smoke-tested, then stable
        calls = [r for r in double.requests if "labels/" in r or r.endswith("/m")]
        first = calls.index("POST /v1/models/m/labels/canary:predict")
        assert calls[first - 1] == "GET /v1/models/m/labels/canary"
        assert "GET /v1/models/m/labels/stable" in calls[first + 1 :]
        # retention: the newest 2 loaded, older ones retired (moved, not deleted)
        assert labels.current(serving).versions == (3, 4) and serving.versions() == [3, 4]
        assert serving.retired_versions() == [1, 2]
        assert [s["version"] for s in client.model_status(double.url, MODEL)] == [4, 3]

        before = {p.name: p.stat().st_ino for p in serving.base.iterdir()}
        moved = labels.move_stable(serving, None, url=double.url, timeout_s=10)
        assert moved == {"previous_stable": 4, "stable": 3, "labels": {"stable": 3, "canary": 3}}
        assert _predict(double.url, "stable") == 0.3
        assert {p.name: p.stat().st_ino for p in serving.base.iterdir()} == before  # nothing copied
        assert [s["version"] for s in client.model_status(double.url, MODEL)] == [4, 3]  # 4 still loaded
        with pytest.raises(PipelineError) as err:
            labels.move_stable(serving, None)
        assert err.value.rule == "rollback-last-version"
        with pytest.raises(PipelineError) as err:
            labels.move_stable(serving, 1)  # retired: not loaded
        assert err.value.rule == "rollback-target" and "not loaded" in str(err.value)
        labels.move_stable(serving, 4, url=double.url, timeout_s=10)  # forward again, instantly
        assert _predict(double.url, "stable") == 0.4
    assert [e["event"] for e in labels.label_events(serving)] == ["promote"] * 4 + ["rollback"] * 2


def test_a_failed_canary_leaves_models_config_and_stable_as_they_were(tmp_path, saved_models):
    serving = _serving_root(tmp_path, saved_models, (1,))
    upsert(serving.models_config, ModelEntry(MODEL, str(serving.base), (1,), {"stable": 1, "canary": 1}))
    before = serving.models_config.read_text()
    import shutil

    shutil.copytree(saved_models / "2", serving.version_dir(2))

    def bad_smoke(label: str) -> dict:
        raise PipelineError(f"smoke on {label} failed (test)", rule="serving-smoke")

    # a restarted TF Serving accepts the labels only with the flag (docker-compose.yml sets it)
    allow = {"allow_version_labels_for_unavailable_models": True}
    with TFServingDouble(None, MODEL, config_file=serving.models_config, **allow) as double:
        with pytest.raises(PipelineError, match="test"):
            labels.roll_out(serving, str(serving.base), 2, url=double.url, timeout_s=10, smoke=bad_smoke)
        assert serving.models_config.read_text() == before
        assert _predict(double.url, "stable") == 0.1 and _predict(double.url, "canary") == 0.1
        assert [s["version"] for s in client.model_status(double.url, MODEL)] == [1]  # 2 unloaded
    assert labels.label_events(serving) == []


def test_a_root_from_before_labels_reads_as_stable_on_its_newest_version(tmp_path):
    """models.config written with the `latest` policy (no labels) keeps serving the same version."""
    serving = ServingLayout(tmp_path / "serving", MODEL)
    for version in (1, 2):
        serving.version_dir(version).mkdir(parents=True)
    upsert(serving.models_config, ModelEntry(MODEL, str(serving.base)))  # latest { num_versions: 1 }
    assert labels.stable_version(serving) == 2 and labels.current(serving).versions == (2,)
    serving.version_dir(3).mkdir()
    rolled = labels.roll_out(serving, str(serving.base), 3)  # no TF Serving URL: one write
    assert rolled["previous_stable"] == 2 and rolled["verified_by"].startswith("infra-validate")
    entry = read(serving.models_config)[MODEL]
    assert entry.versions == (2, 3) and entry.labels == {"stable": 3, "canary": 3}
    retired = labels.retain(serving, 3, lambda v, why: retire_version(serving, v, why))
    assert retired == {} and read(serving.models_config)[MODEL].versions == (1, 2, 3)  # newest 3 loaded


def test_the_waits_give_up_with_tf_servings_last_answer(tmp_path, saved_models):
    """wait_for_label / wait_until_available: a label that never moves, a version never loaded
    and a server that is not there each end in one PipelineError quoting the last answer."""
    serving = _serving_root(tmp_path, saved_models, (1,))
    upsert(serving.models_config, ModelEntry(MODEL, str(serving.base), (1,), {}))
    with TFServingDouble(None, MODEL, config_file=serving.models_config) as double:
        client.wait_until_available(double.url, MODEL, 1, 5, 0.05)
        upsert(serving.models_config, ModelEntry(MODEL, str(serving.base), (1,), {"stable": 1}))
        assert client.wait_for_label(double.url, MODEL, "stable", 1, 5, 0.05)["version"] == 1
        with pytest.raises(PipelineError, match=r"label 'stable' of m to version 2 within 0.3s") as err:
            client.wait_for_label(double.url, MODEL, "stable", 2, 0.3, 0.05)
        assert err.value.rule == "serving-label" and "'version': 1" in str(err.value)
        with pytest.raises(PipelineError, match=r"version 3 not reported \(reported: \[1\]\)") as err:
            client.wait_until_available(double.url, MODEL, 3, 0.3, 0.05)
        assert err.value.rule == "serving-timeout"
        url = double.url
    with pytest.raises(PipelineError, match="did not report m version 1 AVAILABLE") as err:
        client.wait_until_available(url, MODEL, 1, 0.3, 0.05)  # the double has stopped
    assert err.value.rule == "serving-timeout" and url in str(err.value)
