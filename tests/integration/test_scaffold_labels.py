"""From a CSV to a watched model with another dataset's shape: Seattle's daily weather 2012-2015
(vega_datasets' seattle-weather.csv: date, precipitation, temp_max, temp_min, wind, weather),
generated here with the same columns and kinds of values. Two labels: "it rained" from the
number `precipitation`, and "rain, drizzle or snow" from the text `weather`; each column gives
the other's label away, so the scaffold keeps it out of the features, and `ml check` refuses it
put back. A label change is one edit; a window with one class says so in words; both labels go
from the CSV to a monitored span.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ml.cli import run_command
from ml.config import load_pipeline
from ml.errors import PipelineError

DRY_FROM = "2015-10-26"  # no rain from here on: the newest weeks hold one class


def write_seattle(path: Path, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    days = pd.date_range("2012-01-01", "2015-12-31", freq="D")
    n = len(days)
    season = np.cos(2 * np.pi * (days.dayofyear - 15) / 365.25)
    wet = (rng.random(n) < 0.45 + 0.25 * season) & (days < DRY_FROM)
    precipitation = np.where(wet, np.maximum(0.3, np.round(rng.gamma(0.8, 6.0, n), 1)), 0.0)
    temp_max = np.round(16 - 8 * season + rng.normal(0, 3, n) - 2 * wet, 1)
    temp_min = np.round(temp_max - 6 - rng.gamma(2, 1.5, n), 1)
    wind = np.round(rng.gamma(4, 0.8, n) + 1.0 * wet, 1)
    rain_kind = np.where(temp_max < 2, "snow", np.where(precipitation < 1, "drizzle", "rain"))
    weather = np.where(wet, rain_kind, np.where(rng.random(n) < 0.15, "fog", "sun"))
    frame = pd.DataFrame(
        {
            "date": days.strftime("%Y-%m-%d"),
            "precipitation": precipitation,
            "temp_max": temp_max,
            "temp_min": temp_min,
            "wind": wind,
            "weather": weather,
        }
    )
    frame.to_csv(path, index=False)


@pytest.fixture
def seattle(tmp_path, monkeypatch, only_pipelines) -> dict:
    only_pipelines()
    write_seattle(tmp_path / "seattle-weather.csv")
    roots = ["--data-root", str(tmp_path / "data"), "--artifact-root", str(tmp_path / "artifacts")]
    roots += ["--serving-root", str(tmp_path / "serving")]
    return {"csv": tmp_path / "seattle-weather.csv", "roots": roots, "tmp": tmp_path}


def ml(seattle: dict, *args: str) -> dict:
    return run_command([*args, *seattle["roots"]])


def scaffold(seattle: dict, name: str, *extra: str, cadence: str = "monthly") -> dict:
    return ml(
        seattle,
        "new-pipeline",
        name,
        "--from-csv",
        str(seattle["csv"]),
        "--timestamp-column",
        "date",
        "--cadence",
        cadence,
        *extra,
    )


def edit_yaml(name: str, change) -> None:
    import ml.config as config

    path = config.PIPELINES_DIR / name / "pipeline.yaml"  # read as text: it may be invalid now
    raw = yaml.safe_load(path.read_text())
    change(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    load_pipeline.cache_clear()


def test_a_column_that_gives_the_label_away_is_never_a_feature(seattle):
    rained = scaffold(seattle, "rained", "--label-column", "precipitation")
    assert rained["label"].startswith("precipitation_high = precipitation > 0")
    assert "weather" in rained["left_out"] and "label leakage" in rained["left_out"]["weather"]
    cfg = load_pipeline("rained")
    assert "weather" not in cfg.feature_names and "weather" in cfg.passthrough_columns
    assert all("weather" not in keys for keys in cfg.eval_slices)  # not a slice either
    assert "kept out of the features" in (cfg.folder / "pipeline.yaml").read_text()
    assert ml(seattle, "check", "--pipeline", "rained")["ok"]


def test_the_label_source_or_a_feature_derived_from_it_is_refused_naming_both(seattle):
    scaffold(seattle, "rainy", "--label-column", "weather", "--positive", "rain,drizzle,snow")
    cfg = load_pipeline("rainy")
    assert cfg.label == "weather_positive" and cfg.label_columns == ["weather"]
    assert "precipitation" not in cfg.feature_names  # it separates this label too

    def feature_from_label(raw):
        raw["features"]["weather"] = {"type": "string"}
        raw["passthrough_columns"].pop("weather")

    edit_yaml("rainy", feature_from_label)
    with pytest.raises(PipelineError) as refused:
        ml(seattle, "check", "--pipeline", "rainy")
    assert "'weather' is the source of the label (label.columns)" in str(refused.value)
    assert "label leakage" in str(refused.value) and "passthrough_columns" in str(refused.value)

    def derived_from_label(raw):
        raw["passthrough_columns"]["weather"] = "string"
        raw["features"].pop("weather")
        raw["features"]["wet_word"] = {"type": "int", "derived": True, "default": 0}

    edit_yaml("rainy", derived_from_label)
    module = cfg.folder / "module.py"
    module.write_text(
        module.read_text()
        + "\n\ndef derive_features(frame):\n"
        + "    return {'wet_word': (frame['weather'] == 'rain').astype(int)}\n"
    )
    with pytest.raises(PipelineError) as derived:
        ml(seattle, "check", "--pipeline", "rainy")
    assert derived.value.rule == "label-leakage" and derived.value.column == "wet_word"
    assert "change" in str(derived.value) and "weather" in str(derived.value)


def test_a_text_label_needs_its_positive_values_or_has_two(seattle):
    with pytest.raises(PipelineError) as many:
        scaffold(seattle, "kinds", "--label-column", "weather")
    message = str(many.value)
    assert "holds 5 text values (drizzle, fog, rain, snow, sun)" in message and "--positive" in message
    assert not (seattle["tmp"] / "data" / "kinds").exists()  # nothing written
    csv = pd.read_csv(seattle["csv"])
    csv["weather"] = np.where(csv["weather"].isin(["rain", "drizzle", "snow"]), "wet", "dry")
    csv.to_csv(seattle["csv"], index=False)
    two = scaffold(seattle, "wetdry", "--label-column", "weather")
    assert two["label"].startswith("weather_wet = weather in {'wet'}")  # the rarer value is positive
    assert "the rarer of 'weather''s two values (--positive to choose)" in two["label"]


def test_a_label_change_is_one_edit_and_failures_are_one_line_each(seattle, caplog):
    scaffold(seattle, "rained", "--label-column", "precipitation")

    def weather_label(raw):
        raw["label"].update(columns=["weather"])  # the label is now module.py's weather rule
        raw["passthrough_columns"].pop("precipitation")  # and the old target is not needed any more

    edit_yaml("rained", weather_label)
    module = load_pipeline("rained").folder / "module.py"
    text = module.read_text().replace(
        "TARGET, THRESHOLD = 'precipitation', 0", "TARGET, THRESHOLD = 'weather', ('rain', 'drizzle', 'snow')"
    )
    module.write_text(text.replace("(target > THRESHOLD)", "(target.isin(THRESHOLD))"))
    checked = ml(seattle, "check", "--pipeline", "rained")
    assert (
        checked["notes"]
        and "still lists precipitation, which pipeline.yaml no longer reads" in checked["notes"][0]
    )
    span_range = ["--from", "2015-07", "--to", "2015-12"]
    done = ml(
        seattle, "ingest-spans", "--pipeline", "rained", *span_range
    )  # the stale entry constrains nothing
    assert done["failed_count"] == 0 and done["passed"] == done["landed"] == 6
    edit_yaml(
        "rained", lambda raw: raw["features"]["temp_max"].update(min=-200, max=-100)
    )  # every span fails GE
    caplog.clear()
    failed = run_command(["ingest-spans", "--pipeline", "rained", *span_range, *seattle["roots"]])
    assert failed["failed_count"] == 6 and len(failed["failures"]) == 1  # one reason, 6 spans
    assert failed["failures"][0]["count"] == 6 and len(json.dumps(failed)) < 4_000
    assert all(len(reason) < 300 for reason in failed["failed"].values())
    lines = [r.getMessage() for r in caplog.records if "failed: " in r.getMessage()]
    assert len(lines) == 6 and all("temp_max" in line for line in lines)  # one line per span, what failed


def test_one_class_windows_are_reported_in_words_never_as_zero(seattle):
    """The newest weeks hold no rainy day: transform and train say the window's splits hold one
    class; evaluate reports AUC undefined (null in its JSON, never 0.0 or NaN) and the gate
    says it cannot judge."""
    from ml.cli import strict_json

    scaffold(seattle, "weekly", "--label-column", "precipitation", cadence="weekly")
    assert load_pipeline("weekly").span_start == "2011-12-26"  # the first week's Monday: 2012-01-01 is in it
    ml(seattle, "ingest-spans", "--pipeline", "weekly", "--from", "2015-10-26")
    xf = ml(seattle, "transform", "--pipeline", "weekly", "--run-id", "dry", "--window", "8")
    assert any("train split holds one class" in w for w in xf["warnings"])
    assert any("eval split holds one class" in w and "AUC is undefined" in w for w in xf["warnings"])
    model = ml(seattle, "train", "--pipeline", "weekly", "--transform-dir", xf["transform_dir"])
    assert model["eval_metrics"]["auc"] is None and model["warnings"]
    evaluation = ml(seattle, "evaluate", "--pipeline", "weekly", "--model", model["model_dir"])
    assert evaluation["blessed"] is False and evaluation["decided_by"] == "evaluation data"
    assert "cannot judge: the eval split holds one class" in evaluation["reason"]
    assert evaluation["candidate"]["auc"] is None and "auc" in evaluation["undefined_metrics"]
    assert "NaN" not in strict_json(evaluation)


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("rained", ["--label-column", "precipitation"]),
        ("rainy", ["--label-column", "weather", "--positive", "rain,drizzle,snow"]),
    ],
)
def test_each_label_goes_from_the_csv_to_a_monitored_span(seattle, name, label):
    made = scaffold(seattle, name, *label, "--serving-log")
    requests = Path(made["serving_log"]) / "span=2015-06" / "requests.csv"
    assert list(pd.read_csv(requests).columns) == ["date", "temp_max", "temp_min", "wind"]  # key + features
    cfg = load_pipeline(name)
    assert cfg.eval_options.min_slice_size >= 5
    ml(seattle, "ingest-spans", "--pipeline", name, "--from", "2014-07", "--to", "2015-06")
    window = ["--end-span", "2015-06", "--window", "12"]
    xf = ml(seattle, "transform", "--pipeline", name, "--run-id", "first", *window)
    model = ml(seattle, "train", "--pipeline", name, "--transform-dir", xf["transform_dir"])
    evaluation = ml(seattle, "evaluate", "--pipeline", name, "--model", model["model_dir"])
    assert evaluation["blessed"], evaluation["reason"]
    ml(seattle, "infra-validate", "--pipeline", name, "--model", model["model_dir"])
    ml(
        seattle,
        "push",
        "--pipeline",
        name,
        "--model",
        model["model_dir"],
        "--blessing",
        evaluation["blessing"],
    )
    served = ml(seattle, "serve-span", "--pipeline", name, "--span", "2015-08")
    assert served["predictions"] == 31
    monitored = ml(seattle, "monitor", "--pipeline", name, "--span", "2015-08")
    assert monitored["counts"]["labelled"] == 31 and monitored["partial"] is False
    inside = ml(seattle, "serve-span", "--pipeline", name, "--span", "2015-03")
    assert inside["predictions"] == 31
    warned = ml(seattle, "monitor", "--pipeline", name, "--span", "2015-03")
    assert any("inside version 1's training window" in w for w in warned["warnings"])
    shutil.rmtree(cfg.folder)
