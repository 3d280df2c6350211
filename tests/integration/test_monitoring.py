"""The live model, watched (ml/monitoring): real TF Serving PredictionLog files, real TFMA over the
joined rows, the CBPE estimate, alarm bands, the results store and the monitor DAG (`dag.test()`).

One model is trained on 2013-01-01..03 and pushed (version 1, `stable`) for the module; the
following days' landed serving requests are answered with `serve-span` and monitored, their
ground truth being the landed arrival delays, sometimes changed: partly withheld (late labels),
inverted for one origin (a concept shift), or replaced by requests nobody labels (bad input).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ml.config import load_pipeline
from ml.monitoring.estimate import auc
from ml.monitoring.ground_truth import join, predictions_frame, read_ground_truth
from ml.roots import Roots
from ml.serving.prediction_log import read_span, score_of, write_span
from ml.spans import SpanPaths
from ml.tfrecord import read_tfrecords

from conftest import SERVED_TRAINED as TRAINED
from conftest import cli, copy_roots, invert_ewr, rewrite_labels

pytestmark = pytest.mark.slow

DAGS = Path(__file__).resolve().parents[2] / "dags"
SERVED = "2013-01-04"  # answered and monitored as landed
LATE = "2013-01-05"  # labels arrive in two steps: 40 %, then all
SHIFTED = "2013-01-07"  # labels inverted for origin EWR: a concept shift
CANARY_SPAN = "2013-01-06"


@pytest.fixture(scope="module")
def roots(tmp_path_factory, served_flights, airflow_db) -> Roots:
    roots = copy_roots(served_flights["roots"], tmp_path_factory.mktemp("monitoring"))
    with pytest.MonkeyPatch.context() as mp:  # the Airflow tasks read the roots from the env
        mp.setenv("ML_DATA_ROOT", str(roots.data))
        mp.setenv("ML_ARTIFACT_ROOT", str(roots.artifacts))
        mp.setenv("ML_SERVING_ROOT", str(roots.serving))
        yield roots


@pytest.fixture(scope="module")
def served(served_flights, roots) -> dict:
    """Version 1 of flights_delay, trained on three days, blessed and pushed (conftest)."""
    assert Path(served_flights["evaluation"]["evaluation_dir"], "reference.json").is_file()
    return served_flights


def test_serve_span_writes_tf_serving_prediction_logs(served, roots):
    from tensorflow_serving.apis import prediction_log_pb2

    cfg = load_pipeline("flights")
    paths = SpanPaths(cfg, roots)
    result = cli(roots, "serve-span", "--span", SERVED)
    folder = paths.predictions_dir(SERVED)
    with open(paths.serving_log_dir(SERVED) / "requests.csv") as fh:
        requests = sum(1 for _ in fh) - 1
    assert result["predictions"] == requests == result["answered"]["stable"]
    assert (folder / "_SUCCESS").is_file()
    files = sorted(folder.glob("*.tfrecord.gz"))
    logs = [prediction_log_pb2.PredictionLog.FromString(r) for f in files for r in read_tfrecords(f)]
    assert len(logs) == requests
    first = logs[0]
    assert first.log_metadata.model_spec.name == "flights_delay"
    assert first.log_metadata.model_spec.version.value == 1
    assert first.log_metadata.model_spec.signature_name == "serving_default"
    assert first.predict_log.request.model_spec.version_label == "stable"
    assert first.predict_log.response.model_spec.version.value == 1
    year, month, day, *_ = first.predict_log.request.client_id.decode().split("|")
    assert (year, month, day) == ("2013", "1", "4")  # the request id is the ground truth's key
    assert set(first.predict_log.request.inputs) <= set(cfg.feature_names)
    assert 0.0 <= first.predict_log.response.outputs["probabilities"].float_val[0] <= 1.0
    before = [f.read_bytes() for f in files]
    cli(roots, "serve-span", "--span", SERVED)  # re-running gives the same files
    assert [f.read_bytes() for f in sorted(folder.glob("*.tfrecord.gz"))] == before


def test_every_artifact_opens_in_its_own_ecosystems_reader(served, roots):
    """Interop: what the chain wrote for version 1 (three spans ingested and validated, the
    transform, the model, its evaluation, the push, one served span's prediction log, the
    results store), each opened with its own ecosystem's reader, never with the project's code
    (the project only says where the files are)."""
    import json
    import sqlite3
    import subprocess
    import sys

    import tensorflow as tf
    import tensorflow_data_validation as tfdv
    import tensorflow_model_analysis as tfma
    import tensorflow_transform as tft
    from google.protobuf import text_format
    from tensorflow_serving.apis import prediction_log_pb2
    from tensorflow_serving.config import model_server_config_pb2

    from ml.atomic import read_json

    cfg = load_pipeline("flights")
    paths = SpanPaths(cfg, roots)
    schema = tfdv.load_schema_text(str(cfg.schema_path))  # TFDV: the curated schema
    assert {f.name for f in schema.feature} >= set(cfg.feature_names) - {"dewpoint_spread"}
    for span in TRAINED:  # TFDV: statistics, anomalies, and re-validation agrees
        stats = tfdv.load_statistics(str(paths.stats_file(span)))
        assert stats.datasets[0].num_examples > 500
        stored = tfdv.load_anomalies_text(str(paths.anomalies_file(span)))
        again = tfdv.validate_statistics(stats, schema)
        assert set(again.anomaly_info) <= set(stored.anomaly_info), (span, again.anomaly_info)
        from great_expectations.core.expectation_validation_result import (
            ExpectationSuiteValidationResultSchema,
        )

        ge = ExpectationSuiteValidationResultSchema().load(json.loads(paths.ge_result_file(span).read_text()))
        assert ge.success is True and len(ge.results) > 10  # GE's own classes: the raw span's suite
    blessing = read_json(Path(served["evaluation"]["blessing"]))
    trained = read_json(Path(blessing["model_dir"]) / "train_result.json")
    xf = tft.TFTransformOutput(str(Path(trained["transform_dir"]) / "transform_output"))
    assert set(xf.transformed_feature_spec()) >= {f"{n}_xf" for n in ("dep_delay", "carrier")}
    assert xf.vocabulary_size_by_name("carrier") > 5  # TFT: the transform graph and its vocabularies
    result = tfma.load_eval_result(blessing["tfma_dir"], model_name="candidate")  # TFMA: per slice
    slices = {tuple(key) for key, _ in result.slicing_metrics}
    assert () in slices and any(k and k[0][0] == "carrier" for k in slices)
    assert tfma.load_validation_result(blessing["tfma_dir"]).validation_ok == blessing["blessed"] is True
    served_dir = roots.serving / "flights_delay" / "1"  # TF: the SavedModel TF Serving loads
    loaded = tf.saved_model.load(str(served_dir))
    assert {"serving_default", "serving_regress"} <= set(loaded.signatures)
    shown = subprocess.run(
        [str(Path(sys.executable).with_name("saved_model_cli")), "show", "--dir", str(served_dir), "--all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "signature_def['serving_default']" in shown and "probabilities" in shown
    config = text_format.Parse(  # TF Serving's own proto: models.config
        (roots.serving / "models.config").read_text(), model_server_config_pb2.ModelServerConfig()
    )
    (entry,) = config.model_config_list.config
    assert entry.name == "flights_delay" and entry.version_labels["stable"] == 1
    if not (paths.predictions_dir(SERVED) / "_SUCCESS").is_file():
        cli(roots, "serve-span", "--span", SERVED)
    files = sorted(str(f) for f in paths.predictions_dir(SERVED).glob("*.tfrecord.gz"))
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")  # TF's reader, gzip and all
    logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in records]
    assert logs and all(log.predict_log.response.model_spec.version.value == 1 for log in logs)
    db = roots.artifacts / "flights" / "results.sqlite"  # plain SQL: the results store
    with sqlite3.connect(db) as conn:
        spans = conn.execute("SELECT COUNT(*) FROM spans").fetchone()[0]
        pushed = conn.execute("SELECT COUNT(*) FROM serving_events").fetchone()[0]
    assert spans >= len(TRAINED) and pushed >= 1


def test_monitor_realized_agrees_with_the_labels_and_is_recorded(served, roots):
    cfg = load_pipeline("flights")
    if not SpanPaths(cfg, roots).predictions_dir(SERVED).is_dir():
        cli(roots, "serve-span", "--span", SERVED)
    result = cli(roots, "monitor", "--span", SERVED)
    assert result["partial"] is False and result["alarm"] is False and result["retrain"] is False
    counts = result["counts"]
    assert counts["predictions"] == counts["labelled"] + counts["label_unknown"] + counts["no_label_row"]
    assert counts["label_unknown"] > 0  # cancelled flights: no arrival delay, counted, not dropped
    assert counts["unknown_ids"] == 0 and counts["coverage"] > 0.95
    # TFMA's realized AUC over the logged scores = the AUC of the joined rows computed here
    joined = join(
        predictions_frame(
            read_span(SpanPaths(cfg, roots).predictions_dir(SERVED)), cfg.feature_names, "probabilities"
        ),
        read_ground_truth(cfg, SpanPaths(cfg, roots), SERVED),
    ).rows.dropna(subset=["y"])
    own = auc(joined["score"].to_numpy(), joined["y"].astype(int).to_numpy())
    stable = result["by_label"]["stable"]
    assert stable["realized"] == pytest.approx(own, abs=0.005)
    low, high = stable["band"]
    assert low < stable["realized"] < high and low < stable["estimated"] < high
    rows = cli(roots, "results", "monitor", "--json")["rows"]
    row = next(r for r in rows if r["span"] == SERVED and r["version_label"] == "stable")
    assert row["version"] == 1 and row["labelled"] == counts["labelled"]
    judged = json.loads(Path(result["monitor_file"]).read_text())["by_label"]["stable"]
    assert judged["estimated_labelled"] != judged["estimated"]  # the estimate on the same rows
    assert row["estimation_error"] == pytest.approx(judged["estimated_labelled"] - row["realized"], abs=1e-5)
    assert Path(result["monitor_file"]).is_file() and Path(result["tfma_dir"]).is_dir()


def test_late_labels_partial_then_restated_with_both_cutoffs_kept(served, roots):
    cfg = load_pipeline("flights")
    labels = SpanPaths(cfg, roots).labels_dir(LATE)
    full = (labels / "flights.csv").read_text()
    cli(roots, "serve-span", "--span", LATE)
    (labels / cfg.done_marker).unlink()  # 40 % of the arrival delays so far, the rest still to come
    rewrite_labels(roots, LATE, lambda i, row: row if i % 5 < 2 else {**row, "arr_delay": ""})
    first = cli(roots, "monitor", "--span", LATE)
    assert first["partial"] is True
    assert first["counts"]["coverage"] == pytest.approx(0.4, abs=0.03)
    assert any("labels incomplete" in w for w in first["warnings"])
    (labels / "flights.csv").write_text(full)  # the rest landed
    (labels / cfg.done_marker).touch()
    second = cli(roots, "monitor", "--span", LATE)
    assert second["partial"] is False and second["counts"]["coverage"] > 0.95
    assert second["cutoff"] > first["cutoff"]
    every = [
        r for r in cli(roots, "results", "monitor", "--all-cutoffs", "--json")["rows"] if r["span"] == LATE
    ]
    assert {r["cutoff"] for r in every} == {first["cutoff"], second["cutoff"]}  # both cutoffs kept
    latest = [r for r in cli(roots, "results", "monitor", "--json")["rows"] if r["span"] == LATE]
    assert {r["cutoff"] for r in latest} == {second["cutoff"]} and latest[0]["restated"] == 1
    assert len(list(SpanPaths(cfg, roots).monitor_dir(LATE).glob("*/monitor.json"))) == 2
    # a re-run with no new labels (a task retry) returns the newest result, no new restatement
    again = cli(roots, "monitor", "--span", LATE)
    assert again["reused"] is True and again["cutoff"] == second["cutoff"]
    assert len(list(SpanPaths(cfg, roots).monitor_dir(LATE).glob("*/monitor.json"))) == 2
    # as of the first run's cutoff: the 40 % version of the labels, recomputed, the same numbers,
    # though the label file has been replaced since (its first version is in the arrivals ledger)
    replay = cli(roots, "monitor", "--span", LATE, "--as-of", first["cutoff"])
    assert replay["reused"] is False and replay["cutoff"] == first["cutoff"]
    assert replay["counts"] == first["counts"] and replay["partial"] is True
    assert replay["by_label"] == first["by_label"]


def test_bad_input_is_counted_and_reported_never_a_traceback(served, roots):
    cfg = load_pipeline("flights")
    paths = SpanPaths(cfg, roots)
    span = TRAINED[0]
    cli(roots, "serve-span", "--span", span)
    logged = read_span(paths.predictions_dir(span))
    strangers = [replace(p, request_id=f"no-such-flight-{i}") for i, p in enumerate(logged[:25])]
    retried = replace(logged[30], time=logged[30].time + 60)  # the same id answered again later
    write_span(paths.predictions_dir(span), [*logged[25:], *strangers, retried, logged[31]])  # the
    # same record twice is one prediction (a retry answered in the same second); the same id twice
    # with another answer is a duplicate prediction, counted
    result = cli(roots, "monitor", "--span", span)
    counts = result["counts"]
    assert counts["no_label_row"] == 25  # ids that match no label
    assert counts["unknown_ids"] == 25  # labels whose flight got no prediction
    assert counts["duplicate_predictions"] == 1
    assert result["counts"]["predictions"] == len(logged)  # the duplicate counted once
    nothing = cli(roots, "monitor", "--span", "2013-02-01")  # never served, never landed
    assert nothing["counts"]["predictions"] == 0 and nothing["alarm"] is False and nothing["partial"] is True
    assert any("no predictions logged" in w for w in nothing["warnings"])
    row = next(r for r in cli(roots, "results", "monitor", "--json")["rows"] if r["span"] == "2013-02-01")
    assert row["predictions"] == 0 and "no predictions logged" in row["warnings"]


def test_concept_shift_alarms_and_the_monitor_dag_retrains(served, roots):
    """Labels inverted for one origin: realized AUC falls below the band on that slice -> alarm
    -> the monitor DAG's trigger_retrain starts flights_train with reason `performance`. CBPE
    sees only the scores, which did not change: its estimate stays in the band (its known limit)."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models import DagRun
    from airflow.utils.session import create_session
    from test_airflow_dagtest import states, xcom

    def performance_runs() -> list:
        with create_session() as session:
            runs = session.query(DagRun).filter(DagRun.dag_id == "flights_train").all()
            return [r for r in runs if (r.conf or {}).get("trigger") == "performance"]

    with create_session() as session:  # the session's DB: other tests' train runs wait there
        waiting = session.query(DagRun).filter(
            DagRun.dag_id == "flights_train", DagRun.state.in_(["queued", "running"])
        )
        for run in waiting:  # ended, so that this alarm's trigger is not "already queued"
            run.state = "failed"
    before = {r.run_id for r in performance_runs()}
    cli(roots, "serve-span", "--span", SHIFTED)
    rewrite_labels(roots, SHIFTED, invert_ewr)
    bag = DagBag(dag_folder=DAGS)
    assert bag.import_errors == {}
    dag = bag.dags["flights_monitor"]
    quiet = dag.test(logical_date=dt.datetime(2013, 1, 4, tzinfo=dt.UTC), run_conf={"span": SERVED})
    assert str(quiet.state) == "success", states(quiet)
    assert states(quiet)["trigger_retrain"] == "skipped"
    assert xcom(quiet, "wait_for_labels")["partial"] is False
    run = dag.test(logical_date=dt.datetime(2013, 1, 7, tzinfo=dt.UTC), run_conf={"span": SHIFTED})
    assert str(run.state) == "success", states(run)
    monitor = xcom(run, "monitor")
    assert monitor["alarm"] is True and monitor["retrain"] is True
    assert any("origin=EWR" in a for a in monitor["alarms"])
    assert monitor["reason"].startswith("performance: ") and monitor["end_span"] == TRAINED[-1]
    stable = monitor["by_label"]["stable"]
    assert stable["band"][0] < stable["estimated"]  # CBPE did not see it coming
    assert states(run)["trigger_retrain"] == "success"
    triggered = [r for r in performance_runs() if r.run_id not in before]
    assert len(triggered) == 1
    assert triggered[0].conf["trigger"] == "performance" and triggered[0].conf["span"] == TRAINED[-1]
    assert triggered[0].conf["reason"] == monitor["reason"]


def test_canary_and_stable_each_get_their_own_realized_row(served, roots):
    from ml.serving import labels as serving_labels
    from ml.serving.layout import ServingLayout
    from ml.serving.push import install_version

    cfg = load_pipeline("flights")
    serving = ServingLayout.of(cfg, roots)
    v1 = serving.version_dir(1)
    v2 = install_version(serving, v1, serving.metadata(v1) | {"canary_of_test": True})
    entry = serving_labels.current(serving)
    serving_labels._write(serving, entry.with_(versions=(1, v2), labels={"stable": 1, "canary": v2}))
    served_span = cli(roots, "serve-span", "--span", CANARY_SPAN, "--canary-share", "0.3")
    assert set(served_span["answered"]) == {"stable", "canary"}
    share = served_span["answered"]["canary"] / served_span["predictions"]
    assert 0.2 < share < 0.4
    result = cli(roots, "monitor", "--span", CANARY_SPAN)
    assert result["by_label"]["stable"]["version"] == 1 and result["by_label"]["canary"]["version"] == v2
    assert result["by_label"]["canary"]["predictions"] == served_span["answered"]["canary"]
    rows = [r for r in cli(roots, "results", "monitor", "--json")["rows"] if r["span"] == CANARY_SPAN]
    assert {r["version_label"] for r in rows} == {"stable", "canary", "all"}
    realized = {r["version_label"]: r["realized"] for r in rows}
    assert all(0.5 < v < 1 for v in realized.values()) and len(set(realized.values())) == 3
    assert np.isclose(
        sum(r["predictions"] for r in rows if r["version_label"] != "all"), result["counts"]["predictions"]
    )


def test_logging_service_killed_mid_stream_loses_no_acknowledged_prediction(served, roots, tmp_path):
    """`ml prediction-logger` as a real process in front of the TF Serving double (named test
    double: no TF Serving binary here): requests stream in from 4 threads; the service is
    SIGKILLed mid-stream; every request that got its answer is in the log, under its request id,
    with the version its label resolved to; a restarted service closes the span."""
    import json
    import os
    import signal
    import socket
    import subprocess
    import sys
    import threading
    import time
    import urllib.error
    import urllib.request

    from ml.serving.layout import ServingLayout

    from tf_serving_double import TFServingDouble

    cfg = load_pipeline("flights")
    serving = ServingLayout.of(cfg, roots)
    rows = read_span(SpanPaths(cfg, roots).predictions_dir(SERVED))
    instances = [{f.name: p.inputs.get(f.name) for f in cfg.landed_features} for p in rows]
    instances = [i for i in instances if None not in i.values()][:400]  # JSON has no missing tensor value
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = tmp_path / "data"
    env = {**os.environ, "ML_DATA_ROOT": str(data)}
    acked: dict[str, float] = {}
    allow = {"allow_version_labels_for_unavailable_models": True}  # as compose's tf-serving runs
    with TFServingDouble(None, "flights_delay", config_file=serving.models_config, **allow) as double:

        def start() -> subprocess.Popen:
            argv = [sys.executable, "-m", "ml", "prediction-logger", "--pipeline", "flights"]
            argv += ["--upstream", double.url, "--port", str(port), "--close-after-s", "0"]
            log = (tmp_path / "logger.err").open("ab")  # a file, not a pipe nobody drains
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=log)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models/flights_delay", timeout=5)
                    return proc
                except OSError:
                    time.sleep(0.3)
            proc.kill()
            raise AssertionError((tmp_path / "logger.err").read_text()[-3000:])

        proc = start()
        url = f"http://127.0.0.1:{port}/v1/models/flights_delay/labels/stable:predict"

        def client(worker: int) -> None:
            for i in range(worker, len(instances), 4):
                rid = f"req-{i}"
                body = json.dumps({"signature_name": "serving_raw", "instances": [instances[i]]}).encode()
                request = urllib.request.Request(
                    url, body, {"X-Request-Id": rid, "Content-Type": "application/json"}
                )
                try:
                    with urllib.request.urlopen(request, timeout=10) as resp:
                        answer = json.loads(resp.read())
                        assert resp.headers["X-Request-Id"] == rid
                        acked[rid] = float(answer["predictions"][0][0])
                except (OSError, urllib.error.HTTPError):
                    return  # the service is gone

        threads = [threading.Thread(target=client, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while len(acked) < 60 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(acked) >= 60, "the service answered too few requests"
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream
        proc.wait(timeout=30)
        for t in threads:
            t.join(timeout=30)
        assert 60 <= len(acked) < len(instances)
        logged = {p.request_id: p for p in read_span(next((data / cfg.predictions_folder).glob("span=*")))}
        assert set(acked) <= set(logged)  # no acknowledged prediction lost
        for rid, score in acked.items():
            assert score_of(logged[rid], "probabilities") == pytest.approx(score, abs=1e-6)
            assert logged[rid].version == 1 and logged[rid].label == "stable"
    # the next day the span is closed: its batch files compacted into one, `_SUCCESS` written
    from ml.serving.logging_proxy import create_app

    folder = next((data / cfg.predictions_folder).glob("span=*"))
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    app = create_app(
        [cfg], Roots.resolve(data, roots.artifacts, roots.serving), "http://unused", clock=lambda: tomorrow
    )
    assert app.state.close_ended_spans() == [folder.name.removeprefix("span=")]
    assert (folder / "_SUCCESS").is_file() and len(list(folder.glob("*.tfrecord.gz"))) == 1
    assert {p.request_id for p in read_span(folder)} == set(logged)


def test_a_label_moved_mid_span_is_judged_as_each_version_against_its_own_reference(served, roots):
    """`stable` answered with version 1, then version 2 (a new model, its own evaluation): two
    judged groups, `stable@v1` and `stable@v2`, each with its own version's band; the `all` row
    calibrates every row with the reference of the version that answered it."""
    import json
    import shutil

    from ml.monitoring.reference import REFERENCE_FILE, Reference
    from ml.serving.layout import ServingLayout
    from ml.serving.push import install_version

    cfg = load_pipeline("flights")
    serving = ServingLayout.of(cfg, roots)
    v1 = serving.version_dir(1)
    blessing = Path(serving.metadata(v1)["blessing_file"])
    evaluation = roots.artifacts / "moved-evaluation"  # version 2's evaluation: another reference
    shutil.copytree(blessing.parent, evaluation)
    reference = json.loads((evaluation / REFERENCE_FILE).read_text())
    keep = range(0, reference["rows"], 2)  # half the eval rows: another band
    for name in ("scores", "labels", "spans"):
        reference[name] = [reference[name][i] for i in keep]
    reference["columns"] = {c: [v[i] for i in keep] for c, v in reference["columns"].items()}
    reference["rows"] = len(keep)
    (evaluation / REFERENCE_FILE).write_text(json.dumps(reference))
    v2 = install_version(
        serving, v1, serving.metadata(v1) | {"blessing_file": str(evaluation / blessing.name)}
    )
    span = "2013-01-03"
    cli(roots, "serve-span", "--span", span)
    folder = SpanPaths(cfg, roots).predictions_dir(span)
    logged = read_span(folder)
    moved = [replace(p, version=v2) if i % 2 else p for i, p in enumerate(logged)]  # stable moved
    write_span(folder, moved)
    result = cli(roots, "monitor", "--span", span)
    groups = result["by_label"]
    assert set(groups) == {"stable@v1", f"stable@v{v2}", "all"}
    assert groups["stable@v1"]["version"] == 1 and groups[f"stable@v{v2}"]["version"] == v2
    assert groups["stable@v1"]["predictions"] + groups[f"stable@v{v2}"]["predictions"] == len(logged)
    monitor = json.loads(Path(result["monitor_file"]).read_text())["by_label"]
    spec = cfg.monitoring
    for group, version in (("stable@v1", 1), (f"stable@v{v2}", v2)):
        own = Reference.of(
            json.loads(Path(evaluation if version == v2 else blessing.parent, REFERENCE_FILE).read_text())
        )
        n = monitor[group]["slices"][0]["labelled"]
        assert monitor[group]["band"] == list(
            own.band(spec.metric, "Overall", n, monitor[group]["quantile"], spec.bootstrap)
        )
    assert groups["stable@v1"]["band"] != groups[f"stable@v{v2}"]["band"]
    rows = [r for r in cli(roots, "results", "monitor", "--json")["rows"] if r["span"] == span]
    assert {(r["version_label"], r["version"]) for r in rows} == {
        ("stable@v1", 1),
        (f"stable@v{v2}", v2),
        ("all", None),
    }


def test_a_prediction_answered_the_day_before_its_flight_joins_that_days_labels(served, roots, tmp_path):
    """Through the logging service (real socket, in front of the TF Serving test double serving
    version 1): the next day's flights scored the evening before, their ids the flights' keys;
    each is logged in its flight's span, answered the evening before, and joins that span's labels."""
    import json
    import threading
    import time
    import urllib.request

    import uvicorn

    from ml.monitoring.serve import read_requests
    from ml.serving.layout import ServingLayout
    from ml.serving.log_store import close_span
    from ml.serving.logging_proxy import create_app

    from tf_serving_double import TFServingDouble

    cfg = load_pipeline("flights")
    span = "2013-01-02"
    requests = read_requests(cfg, SpanPaths(cfg, roots), span)
    features = [f.name for f in cfg.landed_features]
    requests = requests.dropna(subset=features).head(300)
    evening_before = dt.datetime(2013, 1, 1, 21, 0, tzinfo=dt.UTC)
    data = tmp_path / "data"
    logged_roots = Roots.resolve(data, roots.artifacts, roots.serving)
    serving = ServingLayout.of(cfg, roots)
    allow = {"allow_version_labels_for_unavailable_models": True}
    with TFServingDouble(None, cfg.model_name, config_file=serving.models_config, **allow) as double:
        app = create_app([cfg], logged_roots, double.url, clock=lambda: evening_before)
        with socket_port() as port:
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            while not server.started:
                time.sleep(0.05)
            try:
                url = f"http://127.0.0.1:{port}/v1/models/{cfg.model_name}/labels/stable:predict"
                for start in range(0, len(requests), 100):
                    part = requests.iloc[start : start + 100]
                    body = {
                        "signature_name": "serving_raw",
                        "instances": json.loads(part[features].to_json(orient="records")),
                        "request_ids": part["request_id"].tolist(),
                    }
                    request = urllib.request.Request(
                        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
                    )
                    with urllib.request.urlopen(request, timeout=60) as response:
                        assert response.status == 200
            finally:
                server.should_exit = True
                thread.join(timeout=30)
    paths = SpanPaths(cfg, logged_roots)
    assert not paths.predictions_dir("2013-01-01").exists()  # answered on the 1st, about the 2nd
    logged = read_span(paths.predictions_dir(span))
    assert len(logged) == len(requests) and {p.time for p in logged} == {int(evening_before.timestamp())}
    close_span(paths.predictions_dir(span))
    (data / cfg.landing_folder).symlink_to(roots.data / cfg.landing_folder)  # the labels that landed
    result = cli(logged_roots, "monitor", "--span", span)
    assert result["counts"]["predictions"] == len(requests)
    assert result["counts"]["labelled"] + result["counts"]["label_unknown"] == len(requests)
    assert result["counts"]["no_label_row"] == 0 and result["partial"] is False
    assert result["by_label"]["stable"]["version"] == 1


@contextlib.contextmanager
def socket_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield port


def test_served_inputs_that_drift_from_training_are_reported_and_retrain(served, roots):
    """The flights of a span are answered, but the client sends every departure delay 90 minutes
    later than landed (a serving bug): the served inputs' dep_delay drifts from the model's
    training statistics (a `served_drift_features` feature) and differs, example by example, from
    the same flights as ingested; the monitor says both, per feature, and retrains (served-drift)."""
    import json

    cfg = load_pipeline("flights")
    paths = SpanPaths(cfg, roots)
    span = TRAINED[0]
    cli(roots, "serve-span", "--span", span)
    logged = read_span(paths.predictions_dir(span))
    late = [
        replace(p, inputs={**p.inputs, "dep_delay": p.inputs["dep_delay"] + 90})
        if p.inputs.get("dep_delay") is not None
        else p
        for p in logged
    ]
    write_span(paths.predictions_dir(span), late)
    estimated = cli(roots, "monitor", "--span", span, "--stage", "estimated")
    assert estimated["stage"] == "estimated" and estimated["retrain"] is False  # warns only
    assert any("served inputs drift from training: dep_delay" in w for w in estimated["warnings"])
    result = cli(roots, "monitor", "--span", span)
    assert result["served_drift"] == ["dep_delay"]
    assert result["retrain"] is True and result["trigger"] == "served-drift"
    assert result["reason"].startswith("served-drift: the served inputs drift from training on dep_delay")
    served_inputs = json.loads(Path(result["monitor_file"]).read_text())["served_inputs"]
    assert served_inputs["drift"]["dep_delay"]["value"] > served_inputs["drift"]["dep_delay"]["threshold"]
    skew = served_inputs["skew"]
    assert skew["joined"] > 0.9 * len(logged)
    assert skew["features"]["dep_delay"]["rate"] > 0.9 and skew["features"]["carrier"]["mismatches"] == 0
    assert any("dep_delay differs from the same example as ingested" in w for w in result["warnings"])
    assert Path(served_inputs["stats_file"]).is_file() and Path(served_inputs["training_stats"]).is_file()
