"""TF Serving's REST API as the logging service reads it (ml/serving/rest_api.py): pure functions,
no server, no TensorFlow. The same shapes go through the real service in test_logging_contract.py."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from ml.serving.rest_api import (
    UNNAMED_INPUT,
    UNNAMED_OUTPUT,
    AnswerMismatch,
    BadRequest,
    inference_call,
    instance_ids,
    model_of,
    pair,
    parse_request,
)

PREDICT = inference_call("POST", "/v1/models/m/labels/stable:predict")
REGRESS = inference_call("POST", "/v1/models/m/versions/3:regress")


def parse(body, call=PREDICT, **headers):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_request(call, raw, headers.get("id"), headers.get("event_time"))


def test_urls_name_the_model_the_call_and_a_pinned_version():
    assert PREDICT is not None and (PREDICT.model, PREDICT.label, PREDICT.version) == ("m", "stable", None)
    assert PREDICT.pinned(4) == "/v1/models/m/versions/4:predict"
    assert REGRESS is not None and REGRESS.version == 3 and REGRESS.method == "regress"
    assert inference_call("POST", "/v1/models/m:classify").method == "classify"  # type: ignore[union-attr]
    assert inference_call("GET", "/v1/models/m:predict") is None  # a GET is never inference
    assert inference_call("POST", "/v1/models/m:explain") is None
    assert inference_call("POST", "/v1/models/m/metadata") is None
    assert model_of("/v1/models/m/versions/2/metadata") == "m" and model_of("/healthz") is None


def test_row_format_named_bare_and_b64_instances():
    named = parse({"instances": [{"x": [1, 2], "c": {"b64": "aGk="}}, {"x": [3, 4], "c": "y"}]})
    assert named.instances[1] == {"x": [3, 4], "c": "y"} and named.columnar is None
    bare = parse({"instances": [[1, 2], {"b64": "aGk="}]})  # a b64 object is a value, not names
    assert bare.instances == [{UNNAMED_INPUT: [1, 2]}, {UNNAMED_INPUT: {"b64": "aGk="}}]
    assert parse({"instances": []}).instances == []


def test_columnar_format_splits_along_a_shared_first_dimension_only():
    split = parse({"inputs": {"x": [1.0, 2.0], "c": ["a", "b"]}})
    assert split.batched and split.instances == [{"x": 1.0, "c": "a"}, {"x": 2.0, "c": "b"}]
    one = parse({"inputs": [[1, 1], [2, 2], [3, 3]]})
    assert one.batched and len(one.instances) == 3 and one.instances[0] == {UNNAMED_INPUT: [1, 1]}
    ragged = parse({"inputs": {"x": [1.0, 2.0], "table": [1, 2, 3]}})  # no common batch: one instance
    assert not ragged.batched and ragged.instances == [{"x": [1.0, 2.0], "table": [1, 2, 3]}]
    scalar = parse({"inputs": {"x": 5.0}})
    assert not scalar.batched and scalar.instances == [{"x": 5.0}]


def test_answers_are_paired_per_instance_or_logged_whole():
    request = parse({"instances": [{"x": 1}, {"x": 2}]})
    multi = {"predictions": [{"p": [0.1], "logits": [1]}, {"p": [0.2], "logits": [2]}]}
    paired = pair(request, json.dumps(multi).encode())
    assert [a.outputs for a in paired] == multi["predictions"] and [a.index for a in paired] == [0, 1]
    single = pair(request, b'{"predictions": [[0.1], [0.2]]}')
    assert single[1].outputs == {UNNAMED_OUTPUT: [0.2]}
    columnar = parse({"inputs": {"x": [1, 2]}})
    assert [a.outputs for a in pair(columnar, b'{"outputs": {"p": [[0.1], [0.2]]}}')] == [
        {"p": [0.1]},
        {"p": [0.2]},
    ]
    whole = pair(columnar, b'{"outputs": {"p": [0.5]}}')  # outputs without the batch: one record
    assert len(whole) == 1 and whole[0].index is None and whole[0].inputs == {"x": [1, 2]}
    classify = parse(
        {"context": {"k": 1}, "examples": [{"x": 1}]}, inference_call("POST", "/v1/models/m:classify")
    )
    answer = pair(classify, b'{"result": [[["0", 0.3], ["1", 0.7]]]}')
    assert answer[0].outputs == {"classes": ["0", "1"], "scores": [0.3, 0.7]} and classify.context == {"k": 1}
    assert pair(parse({"examples": [{"x": 1}]}, REGRESS), b'{"result": [2.5]}')[0].outputs == {"value": 2.5}


@pytest.mark.parametrize(
    "answer",
    [
        b'{"predictions": [[0.1]]}',  # fewer answers than instances
        b'{"predictions": [[0.1], [0.2], [0.3]]}',
        b'{"outputs": [[0.1], [0.2]]}',  # the wrong format's key
        b"<html>502</html>",
        b'{"predictions": 0.5}',
    ],
)
def test_an_answer_that_does_not_fit_is_a_mismatch_never_a_silent_drop(answer):
    with pytest.raises(AnswerMismatch):
        pair(parse({"instances": [{"x": 1}, {"x": 2}]}), answer)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{oops", "JSON Parse error"),
        (b'"text"', "Is not object"),
        (b"[1]", "Is not object"),
        ({}, "Missing 'inputs' or 'instances' key"),
        ({"instances": [1], "inputs": [1]}, "only one of"),
        ({"instances": {"x": 1}}, "list/array"),
        ({"instances": [{"x": 1}, 1]}, "every instance names its inputs, or none does"),
        ({"instances": [1], "signature_name": 3}, "'signature_name' must be a string"),
        ({"instances": [1, 2], "request_ids": ["a"]}, "'request_ids' has 1 ids for 2 instances"),
        ({"instances": [1], "request_id": "a b"}, "printable ASCII"),
        ({"instances": [1], "request_id": "x" * 300}, "at most 256"),
        ({"instances": [1], "event_time": "tomorrow"}, "not ISO 8601"),
        ({"instances": [1], "event_times": ["2013-01-01", "2013-01-02"]}, "'event_times' has 2 times for 1"),
    ],
)
def test_what_tf_serving_refuses_is_a_bad_request(body, words):
    with pytest.raises(BadRequest, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse(body)


def test_the_services_own_fields_are_removed_before_forwarding_and_nothing_else_changes():
    raw = b'{"instances": [1],   "signature_name": "s"}'
    assert parse(raw).body == raw  # untouched bytes: nothing to remove
    body = {"instances": [1, 2], "request_ids": ["a", "b"], "event_time": 1358208000, "signature_name": "s"}
    request = parse(body)
    assert json.loads(request.body) == {"instances": [1, 2], "signature_name": "s"}
    assert request.request_ids == ["a", "b"] and request.signature == "s"
    assert request.event_times == [dt.datetime(2013, 1, 15, tzinfo=dt.UTC)] * 2


def test_request_ids_per_instance_one_for_the_batch_or_generated():
    two = parse({"instances": [1, 2]}, id="client-1")
    answered = pair(two, b'{"predictions": [0, 1]}')
    assert instance_ids(two, answered, "gen") == ["client-1/0", "client-1/1"]
    assert instance_ids(parse({"instances": [1, 2]}), answered, "gen") == ["gen/0", "gen/1"]
    listed = parse({"instances": [1, 2], "request_ids": ["a", 7]})
    assert instance_ids(listed, pair(listed, b'{"predictions": [0, 1]}'), "gen") == ["a", "7"]
    one = parse({"instances": [1]}, id="only")
    assert instance_ids(one, pair(one, b'{"predictions": [0]}'), "gen") == ["only"]


def test_event_times_from_the_body_or_header_are_utc_instants():
    header = parse({"instances": [1]}, event_time="2013-01-15")  # a date: its midnight, UTC
    assert header.event_times == [dt.datetime(2013, 1, 15, tzinfo=dt.UTC)]
    zoned = parse({"instances": [1, 2], "event_times": ["2013-01-15T23:30:00-05:00", None]})
    assert zoned.event_times == [dt.datetime(2013, 1, 16, 4, 30, tzinfo=dt.UTC), None]
    epoch = parse({"instances": [1]}, event_time="1358208000")
    assert epoch.event_times == [dt.datetime(2013, 1, 15, tzinfo=dt.UTC)]
