"""The prediction-logging service's contract, request by request (ml/serving/logging_proxy.py).

The service runs on a real socket (uvicorn) in front of the TF Serving TEST DOUBLE (named: no TF
Serving binary exists here; tests/tf_serving_double.py follows TF Serving's REST API), which
serves a small SavedModel with one signature per shape TF Serving's REST API takes: named inputs
with two outputs, one unnamed list input, serialized tf.Examples as b64, `:classify`, `:regress`,
and one whose output ignores the batch. For every request the double answers 200 the rows are in
the log, or the client gets 503 and nothing is; malformed requests never reach the double.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import http.client
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ml.config import load_pipeline
from ml.roots import Roots
from ml.serving.log_store import read_records
from ml.serving.models_config import ModelEntry, upsert
from ml.serving.prediction_log import features_of, from_record, score_of
from ml.spans import SpanPaths

from tf_serving_double import TFServingDouble

MODEL = "flights_delay"  # the flights pipeline's model name: the service logs it
NOW = dt.datetime(2013, 1, 15, 20, 0, tzinfo=dt.UTC)  # the service's clock: answer time


def build_model(folder: Path, sign: float) -> None:
    """Version `sign` > 0: p = sigmoid(x); < 0: p = sigmoid(-x) (so a row says who answered)."""
    import tensorflow as tf

    spec = {"x": tf.io.FixedLenFeature([], tf.float32)}

    class Contract(tf.Module):
        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.float32, name="x"),
                tf.TensorSpec([None], tf.string, name="c"),
            ]
        )
        def named(self, x, c):
            return {"probabilities": tf.sigmoid(sign * x)[:, None], "logits": (sign * x)[:, None]}

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="v")])
        def one_input(self, v):
            return {"probabilities": tf.sigmoid(sign * tf.reduce_sum(v, 1))[:, None]}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def examples(self, serialized):
            x = tf.io.parse_example(serialized, spec)["x"]
            return {"probabilities": tf.sigmoid(sign * x)[:, None]}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def regress(self, inputs):
            return {"outputs": 2 * sign * tf.io.parse_example(inputs, spec)["x"]}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def classify(self, inputs):
            p = tf.sigmoid(sign * tf.io.parse_example(inputs, spec)["x"])
            names = tf.tile(tf.constant([["0", "1"]]), [tf.shape(p)[0], 1])
            return {"classes": names, "scores": tf.stack([1 - p, p], axis=1)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def fixed(self, x):
            return {"probabilities": tf.constant([[0.5]])}  # one answer, whatever the batch

    module = Contract()
    signatures = {
        "serving_default": module.named,
        "one_input": module.one_input,
        "examples": module.examples,
        "serving_regress": module.regress,
        "serving_classify": module.classify,
        "fixed": module.fixed,
    }
    tf.saved_model.save(
        module, str(folder), signatures={k: f.get_concrete_function() for k, f in signatures.items()}
    )


@pytest.fixture(scope="module")
def serving(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("contract")
    roots = Roots.resolve(base / "data", base / "artifacts", base / "serving")
    models = roots.serving / MODEL
    build_model(models / "1", 1.0)
    build_model(models / "2", -1.0)
    config = roots.serving / "models.config"
    upsert(config, ModelEntry(MODEL, str(models), versions=(1, 2), labels={"stable": 1}))
    allow = {"allow_version_labels_for_unavailable_models": True}  # as compose runs TF Serving
    with TFServingDouble(None, MODEL, config_file=config, **allow) as double:
        yield {"roots": roots, "double": double, "config": config, "models": models}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def logger(serving: dict, data: Path, **options) -> Iterator[str]:
    """The service on a real port (uvicorn in a thread), logging into `data`."""
    import uvicorn

    from ml.serving.logging_proxy import create_app

    roots = Roots.resolve(data, serving["roots"].artifacts, serving["roots"].serving)
    app = create_app([load_pipeline("flights")], roots, serving["double"].url, clock=lambda: NOW, **options)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def service(serving, tmp_path_factory) -> Iterator[dict]:
    data = tmp_path_factory.mktemp("logged")
    with logger(serving, data, max_request_bytes=2_000_000, pass_through=["other_passed"]) as address:
        yield {"address": address, "data": data}


def call(address: str, method: str, path: str, body: bytes | dict | None = None, headers=None):
    """(status, parsed JSON body, headers) with Python's own http.client (it refuses huge headers)."""
    conn = http.client.HTTPConnection(address, timeout=60)
    payload = json.dumps(body).encode() if isinstance(body, dict) else body
    conn.request(method, path, payload, {"Content-Type": "application/json", **(headers or {})})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return (
        response.status,
        json.loads(data) if data else None,
        {k.lower(): v for k, v in response.getheaders()},
    )


def logged(data: Path, span: str = "2013-01-15") -> list:
    folder = SpanPaths(load_pipeline("flights"), Roots.resolve(data, data, data)).predictions_dir(span)
    return [from_record(r) for r in read_records(folder).records]


def b64_example(x: float) -> dict:
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    example.features.feature["x"].float_list.value.append(x)
    example.features.feature["origin"].bytes_list.value.append(b"EWR")
    return {"b64": base64.b64encode(example.SerializeToString()).decode()}


PREDICT = f"/v1/models/{MODEL}/versions/1:predict"
CASES = {
    "row, named inputs, two outputs": (
        PREDICT,
        {"instances": [{"x": 0.5, "c": "a"}, {"x": -1, "c": "b"}]},
        2,
    ),
    "row, a b64 value": (PREDICT, {"instances": [{"x": 1.5, "c": {"b64": "aGk="}}]}, 1),
    "row, bare list values": (PREDICT, {"signature_name": "one_input", "instances": [[1, 2], [0.5, -3]]}, 2),
    "row, b64 tf.Examples": (PREDICT, {"signature_name": "examples", "instances": [b64_example(0.25)]}, 1),
    "columnar, named": (PREDICT, {"inputs": {"x": [0.1, 0.2, 0.3], "c": ["a", "b", "c"]}}, 3),
    "columnar, one tensor": (PREDICT, {"signature_name": "one_input", "inputs": [[1, 1], [2, 2]]}, 2),
    "columnar, no common batch": (PREDICT, {"signature_name": "fixed", "inputs": {"x": [1.0, 2.0]}}, 1),
    ":classify with a context": (
        f"/v1/models/{MODEL}/versions/1:classify",
        {
            "signature_name": "serving_classify",
            "context": {"origin": "JFK"},
            "examples": [{"x": 2.0}, {"x": -2.0}],
        },
        2,
    ),
    ":regress": (
        f"/v1/models/{MODEL}/versions/1:regress",
        {"signature_name": "serving_regress", "examples": [{"x": 3.0}]},
        1,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_rest_shape_tf_serving_answers_is_logged_one_row_per_instance(serving, service, tmp_path, case):
    path, body, rows = CASES[case]
    direct = call(serving["double"].url.removeprefix("http://"), "POST", path, body)
    assert direct[0] == 200, direct[1]
    rid = f"contract-{abs(hash(case))}"
    status, answer, headers = call(service["address"], "POST", path, body, {"X-Request-Id": rid})
    assert status == 200 and answer == direct[1]  # TF Serving's answer, unchanged
    assert headers["x-request-id"] == rid
    mine = [p for p in logged(service["data"]) if p.request_id.split("/")[0] == rid]
    assert len(mine) == rows
    assert sorted(p.request_id for p in mine) == ([rid] if rows == 1 else [f"{rid}/{i}" for i in range(rows)])
    method = path.rsplit(":", 1)[1]
    assert {p.method for p in mine} == {method} and {p.version for p in mine} == {1}
    assert {p.time for p in mine} == {int(NOW.timestamp())}
    for p in mine:
        score = score_of(p, "probabilities")
        assert score == score  # a number, not NaN: the score the monitor judges
    if case == "row, b64 tf.Examples":
        assert features_of(mine[0]) == {"origin": "EWR", "x": 0.25}
    if case == ":classify with a context":
        assert {features_of(p)["origin"] for p in mine} == {"JFK"}
        assert sorted(score_of(p, "") for p in mine) == pytest.approx(
            sorted(s[1][1] for s in answer["result"])
        )
    if case == "row, named inputs, two outputs":
        by_id = {p.request_id: p for p in mine}
        assert by_id[f"{rid}/1"].inputs == {"c": "b", "x": -1}
        assert set(by_id[f"{rid}/0"].outputs) == {"probabilities", "logits"}
        assert score_of(by_id[f"{rid}/0"], "probabilities") == pytest.approx(
            answer["predictions"][0]["probabilities"][0]
        )


MALFORMED = {
    "not JSON": b"{instances: [1]",
    "not an object": b"[1, 2]",
    "instances not a list": b'{"instances": {"x": 1}}',
    "both formats": b'{"instances": [1], "inputs": [1]}',
    "no instances": b'{"signature_name": "one_input"}',
    "mixed instances": b'{"instances": [{"x": 1, "c": "a"}, 2]}',
    "ids for the wrong count": b'{"instances": [{"x": 1, "c": "a"}], "request_ids": ["a", "b"]}',
    "a bad event time": b'{"instances": [{"x": 1, "c": "a"}], "event_time": "soon"}',
    "a bad request id": b'{"instances": [{"x": 1, "c": "a"}], "request_id": "has space"}',
    "examples not objects": b'{"examples": [1]}',
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_request_gets_tf_servings_400_and_never_reaches_it(serving, service, case):
    path = PREDICT if case != "examples not objects" else f"/v1/models/{MODEL}/versions/1:regress"
    before = len(serving["double"].requests)
    status, answer, _ = call(service["address"], "POST", path, MALFORMED[case])
    assert status == 400 and set(answer) == {"error"} and answer["error"]
    assert len(serving["double"].requests) == before


def test_a_body_over_the_limit_gets_413(serving, service):
    before = len(serving["double"].requests)
    body = {"instances": [{"x": 1.0, "c": "a" * 1000}] * 2500}  # ~2.6 MB > the 2 MB limit
    status, answer, _ = call(service["address"], "POST", PREDICT, body)
    assert status == 413 and "limit" in answer["error"]
    assert len(serving["double"].requests) == before


def test_a_model_not_logged_is_refused_unless_listed_to_pass_through(serving, service):
    status, answer, _ = call(service["address"], "POST", "/v1/models/other:predict", {"instances": [1]})
    assert status == 404 and "not logged here" in answer["error"]
    status, _, _ = call(service["address"], "GET", "/v1/models/other_passed")
    assert status == 404  # forwarded: the double serves no such model, and says so
    assert serving["double"].requests[-1] == "GET /v1/models/other_passed"
    counters = call(service["address"], "GET", "/logger/status")[1]
    assert counters["other_models"] >= 1 and counters["passed_through"] >= 1


def test_a_huge_batch_is_logged_whole_and_answered_with_small_headers(serving, service):
    instances = [[float(i % 7), 1.0] for i in range(20_000)]
    status, answer, headers = call(
        service["address"], "POST", PREDICT, {"signature_name": "one_input", "instances": instances}
    )
    assert status == 200 and len(answer["predictions"]) == 20_000  # http.client read every header
    batch = headers["x-request-id"]
    assert len(batch) == 32  # one generated id for the batch, not 20,000 of them
    mine = [p for p in logged(service["data"]) if p.request_id.startswith(f"{batch}/")]
    assert len(mine) == 20_000 and {p.request_id for p in mine} == {f"{batch}/{i}" for i in range(20_000)}


def test_per_instance_ids_and_event_times_decide_ids_and_spans(serving, service):
    body = {
        "instances": [{"x": 1.0, "c": "a"}, {"x": 2.0, "c": "b"}],
        "request_ids": ["2013|1|16|UA|1|EWR|700", "free-id-1"],  # the first names its flight's date
    }
    status, _, _ = call(service["address"], "POST", PREDICT, body)
    assert status == 200
    tomorrow = {p.request_id: p for p in logged(service["data"], "2013-01-16")}
    assert tomorrow["2013|1|16|UA|1|EWR|700"].time == int(NOW.timestamp())  # answered the day before
    assert "free-id-1" in {p.request_id for p in logged(service["data"])}  # no event time: answer time
    body = {"instances": [{"x": 1.0, "c": "a"}], "request_id": "evt-1", "event_time": "2013-01-18T09:00:00Z"}
    assert call(service["address"], "POST", PREDICT, body)[0] == 200
    body = {"instances": [{"x": 1.0, "c": "a"}]}
    assert (
        call(
            service["address"], "POST", PREDICT, body, {"X-Request-Id": "evt-2", "X-Event-Time": "1358672400"}
        )[0]
        == 200
    )
    assert "evt-1" in {p.request_id for p in logged(service["data"], "2013-01-18")}
    assert "evt-2" in {p.request_id for p in logged(service["data"], "2013-01-20")}


def test_an_answer_that_does_not_fit_the_request_gets_503_and_nothing_is_logged(serving, service):
    body = {"signature_name": "fixed", "instances": [{"x": 1.0}, {"x": 2.0}]}
    direct = call(serving["double"].url.removeprefix("http://"), "POST", PREDICT, body)
    assert direct[0] == 200 and len(direct[1]["predictions"]) == 1  # one answer for two instances
    status, answer, _ = call(service["address"], "POST", PREDICT, body, {"X-Request-Id": "misfit"})
    assert status == 503 and "1 predictions for 2 instances" in answer["error"]
    assert not [p for p in logged(service["data"]) if p.request_id.startswith("misfit")]


def test_when_the_log_cannot_be_written_the_client_gets_503_never_200(serving, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / load_pipeline("flights").predictions_folder).write_text("a file where the log folder goes")
    with logger(serving, data) as address:
        status, answer, _ = call(address, "POST", PREDICT, {"instances": [{"x": 1.0, "c": "a"}]})
        assert status == 503 and "not logged" in answer["error"]
        assert call(address, "GET", "/logger/status")[1]["not_logged"] == 1


def test_the_logged_version_is_the_one_that_answered_while_the_label_moves(serving, tmp_path):
    """`stable` moves from version 1 to 2 mid-stream: every row's version computed its answer
    (version 1 answers sigmoid(x), version 2 sigmoid(-x))."""
    data = tmp_path / "data"
    path = f"/v1/models/{MODEL}/labels/stable:predict"
    entry = ModelEntry(MODEL, str(serving["models"]), versions=(1, 2), labels={"stable": 1})
    answers: dict[str, float] = {}
    try:
        with logger(serving, data) as address:
            for i in range(60):
                if i == 30:
                    upsert(serving["config"], entry.with_(labels={"stable": 2}))
                body = {"instances": [{"x": 1.0, "c": "a"}]}
                status, answer, _ = call(address, "POST", path, body, {"X-Request-Id": f"move-{i}"})
                assert status == 200
                answers[f"move-{i}"] = answer["predictions"][0]["probabilities"][0]
                time.sleep(0.05)
    finally:
        upsert(serving["config"], entry)
    rows = {p.request_id: p for p in logged(data)}
    assert set(rows) == set(answers)
    assert {p.version for p in rows.values()} == {1, 2} and {p.label for p in rows.values()} == {"stable"}
    for rid, p in rows.items():
        expected = 0.731 if p.version == 1 else 0.269  # sigmoid(1), sigmoid(-1)
        assert score_of(p, "probabilities") == pytest.approx(expected, abs=1e-3)
        assert answers[rid] == pytest.approx(expected, abs=1e-3)
    shutil.rmtree(data)


def test_the_span_closer_logs_a_span_it_cannot_close_and_closes_the_others(serving, tmp_path, caplog):
    from ml.serving.log_store import append_batch, is_complete
    from ml.serving.logging_proxy import create_app

    cfg = load_pipeline("flights")
    roots = Roots.resolve(tmp_path / "data", serving["roots"].artifacts, serving["roots"].serving)
    paths = SpanPaths(cfg, roots)
    good, bad = paths.predictions_dir("2013-01-15"), paths.predictions_dir("2013-01-16")
    append_batch(good, [b"a", b"b"])
    append_batch(bad, [b"c"])
    (bad / "part-00000000000000000001-1-1.tfrecord.gz").write_bytes(b"not a TFRecord file at all")
    later = NOW + dt.timedelta(days=3)
    app = create_app([cfg], roots, serving["double"].url, close_after_s=0, clock=lambda: later)
    assert app.state.close_ended_spans() == ["2013-01-15"]  # the other one is retried next round
    assert is_complete(good) and not is_complete(bad)
    assert app.state.counters["close_errors"] == 1
    assert "could not close span 2013-01-16" in caplog.text
