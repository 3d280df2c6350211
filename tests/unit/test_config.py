"""pipeline.yaml is checked when it is loaded: one message per mistake, naming file, key, what."""

from __future__ import annotations

import copy

import pytest

from ml.config import check_config, config_problems, load_pipeline
from ml.errors import PipelineError

from conftest import cli


@pytest.fixture
def raw(flights_cfg) -> dict:
    return copy.deepcopy(flights_cfg.raw)


def test_the_bundled_pipeline_is_valid(raw, roots):
    assert config_problems(raw) == []
    assert cli(roots, "check")["ok"] is True


MISTAKES = [
    # (what the user wrote, the key named, words of the message)
    (
        lambda r: r["features"]["temp"].update(type="double"),
        "features.temp.type",
        "'string', 'int' or 'float'",
    ),
    (lambda r: r["features"]["temp"].update(defualt=55.0), "features.temp.defualt", "Extra inputs"),
    (lambda r: r["split"].update(eval_percent=120), "split.eval_percent", "less than or equal to 99"),
    (lambda r: r["split"].update(eval_percent=50, test_percent=50), "split", "must leave train rows"),
    (lambda r: r["checks"]["drift"].update(severity="loud"), "checks.drift.severity", "'block' or 'warn'"),
    (
        lambda r: r["checks"]["drift"]["features"].update(tmp={"jsd": 0.9}),
        "checks.drift.features",
        "'tmp' is not a feature",
    ),
    (
        lambda r: r.update(example_key=["year", "month", "day", "tail_num"]),
        "example_key",
        "'tail_num' is not a declared column",
    ),
    (lambda r: r["label"].update(source_column="arrival"), "label.source_column", "'arrival' is not"),
    (
        lambda r: r["span"].update(ingest_schedule="every day"),
        "span.ingest_schedule",
        "not a cron expression",
    ),
    (lambda r: r["span"].update(start="2013-02-30"), "span.start", "valid date"),
    (
        lambda r: r["features"]["distance"].update(min=10, max=1),
        "features.distance",
        "min 10.0 is above max 1.0",
    ),
    (
        lambda r: r["evaluation"].update(slices=[[], ["airline"]]),
        "evaluation.slices",
        "'airline' is not a feature",
    ),
    (
        lambda r: r["evaluation"]["gaps"].update(columns=["airline"]),
        "evaluation.gaps.columns",
        "'airline' is not a feature",
    ),
    (lambda r: r["evaluation"].update(min_slice_size=0), "evaluation.min_slice_size", "greater than"),
    (
        lambda r: r["training"]["retrain_on"].update(drift_features=["visib"]),
        "training.retrain_on.drift_features",
        "'visib' has no",
    ),
    (
        lambda r: r["checks"]["drift"]["features"]["temp"].update(kl=0.1),
        "checks.drift.features.temp.kl",
        "'linf'",
    ),
    # the label is a rule or a module function, not both; drift compares landed columns
    (
        lambda r: r["label"].update(function="label_fn", columns=["arr_delay"]),
        "label",
        "either source_column + threshold (a rule) or function + columns",
    ),
    (
        lambda r: r["features"]["temp"].update(derived=True),
        "checks.drift.features",
        "'temp' is a derived feature",
    ),
    # the cadence, the span format and the ingest cron must agree
    (
        lambda r: r["span"].update(cadence="yearly"),
        "span.cadence",
        "'hourly', 'daily', 'weekly' or 'monthly'",
    ),
    (lambda r: r["span"].update(format="%Y-%m"), "span.format", "not the format of daily span ids"),
    (
        lambda r: r["span"].update(cadence="monthly"),  # the cron still ticks daily
        "span.ingest_schedule",
        "does not tick once per monthly span",
    ),
    (
        lambda r: r["span"].update(cadence="weekly", ingest_schedule="@weekly"),  # Sundays
        "span.ingest_schedule",
        "is not a weekly span id",
    ),
    # a label whose only source is a feature: the model would be fed its own answer
    (
        lambda r: (
            r["features"].update(arr_delay={"type": "float"}),
            r["passthrough_columns"].pop("arr_delay"),
        ),
        "features",
        "'arr_delay' is the source of the label (label.source_column)",
    ),
    # the live model: settings under which the monitor would silently never alarm
    (lambda r: r["monitoring"].update(metric="accuracy"), "monitoring.metric", "'auc' or 'binary_accuracy'"),
    (
        lambda r: (r["monitoring"].update(metric="binary_accuracy"), r["evaluation"].update(metrics=["AUC"])),
        "monitoring.metric",
        "needs BinaryAccuracy in evaluation.metrics",
    ),
    (
        lambda r: r["monitoring"].update(alarm_slices=["Overall", "dest=ORD"]),
        "monitoring.alarm_slices",
        "add [dest] to evaluation.slices",
    ),
    (
        lambda r: (
            r["features"]["hour"].update(derived=True),
            r["evaluation"].update(slices=[[], ["hour"]]),
            r["monitoring"].update(alarm_slices=["hour=7"]),
        ),
        "monitoring.alarm_slices",
        "slices a derived feature",
    ),
    (
        lambda r: r["monitoring"]["event_time"].update(id_columns=["flight_date"]),
        "monitoring.event_time.id_columns",
        "'flight_date' is not a column of the request id",
    ),
]


@pytest.mark.parametrize(("mistake", "key", "words"), MISTAKES)
def test_each_mistake_is_one_clear_message(raw, mistake, key, words, tmp_path):
    mistake(raw)
    problems = config_problems(raw)
    assert [k for k, _ in problems] == [key], problems
    assert words in problems[0][1]
    path = tmp_path / "pipeline.yaml"
    with pytest.raises(PipelineError) as err:
        check_config(raw, path)
    message = str(err.value)
    assert str(path) in message and key in message and words in message and "\n" not in message
    assert err.value.rule == "pipeline-config"


def test_broken_yaml_names_the_line(tmp_path, monkeypatch):
    import ml.config as config

    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "pipeline.yaml").write_text("name: broken\nlanding: {folder: x\n")
    monkeypatch.setattr(config, "PIPELINES_DIR", tmp_path)
    load_pipeline.cache_clear()
    try:
        with pytest.raises(PipelineError, match=r"not valid YAML at line \d+"):
            load_pipeline("broken")
    finally:
        load_pipeline.cache_clear()


@pytest.mark.parametrize("url", ["gs://bucket/ml", "s3://bucket/ml", "hdfs://namenode/ml"])
def test_an_object_store_root_is_refused_not_read_as_a_local_folder(monkeypatch, url):
    from ml.roots import Roots

    monkeypatch.setenv("ML_ARTIFACT_ROOT", url)
    with pytest.raises(PipelineError) as err:
        Roots.resolve()
    assert err.value.rule == "local-root" and "ML_ARTIFACT_ROOT" in str(err.value)
    with pytest.raises(PipelineError):
        Roots.resolve(data=url)


def test_a_test_split_takes_its_band_from_train_and_leaves_eval_as_it_was(flights_cfg):
    """split.test_percent: the stable hash's next band becomes test; every eval row stays eval
    (a pipeline that adds a test split keeps comparing like with like), and the shares hold."""
    import dataclasses

    import pandas as pd

    from ml.data.ingest import split_of

    keys = pd.DataFrame({k: [f"{k}{i}" for i in range(4000)] for k in flights_cfg.example_key})
    raw = copy.deepcopy(flights_cfg.raw)
    raw["split"]["test_percent"] = 20
    with_test = dataclasses.replace(flights_cfg, raw=raw)
    before, after = split_of(flights_cfg, keys), split_of(with_test, keys)
    assert flights_cfg.splits == ("train", "eval") and with_test.splits == ("train", "eval", "test")
    assert [a for b, a in zip(before, after, strict=True) if b == "eval"] == ["eval"] * before.count("eval")
    assert {b for b, a in zip(before, after, strict=True) if a == "test"} == {"train"}
    shares = {s: after.count(s) / len(after) for s in with_test.splits}
    assert abs(shares["eval"] - flights_cfg.eval_percent / 100) < 0.03 and abs(shares["test"] - 0.2) < 0.03
    assert with_test.spec.split.judged == "test" and flights_cfg.spec.split.judged == "eval"
    few = keys.head(6)  # enough rows for one test row (100 / 20 = 5) that drew none still get one
    assert "test" in split_of(with_test, few)
