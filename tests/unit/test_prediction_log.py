"""The prediction log's records (ml/serving/prediction_log.py): TF Serving's PredictionLog for each
API, written and read back; the score and features the monitor takes from them; event times."""

from __future__ import annotations

import base64
import datetime as dt
import math

import pytest

from ml.config import load_pipeline
from ml.event_time import event_time_of_id
from ml.serving.log_store import append_batch, read_records
from ml.serving.prediction_log import Prediction, features_of, from_record, score_of, to_record


def round_trip(p: Prediction) -> Prediction:
    return from_record(to_record(p))


def test_a_predict_record_keeps_every_input_and_output_as_sent():
    from tensorflow_serving.apis import prediction_log_pb2

    p = Prediction(
        "r-1",
        1358208000,
        "m",
        3,
        "stable",
        "serving_raw",
        outputs={"probabilities": [0.25], "logits": [[1.0, 2.0]]},
        inputs={
            "carrier": "UA",
            "hour": 5,
            "dep_delay": -2.5,
            "vec": [1, 2],
            "blob": {"b64": "/w=="},
            "ok": True,
        },
    )
    log = prediction_log_pb2.PredictionLog.FromString(to_record(p))  # TF Serving's own proto
    assert log.predict_log.request.client_id == b"r-1" and log.log_metadata.model_spec.version.value == 3
    assert log.predict_log.request.model_spec.version_label == "stable"
    assert [d.size for d in log.predict_log.request.inputs["vec"].tensor_shape.dim] == [1, 2]
    back = round_trip(p)
    assert back.inputs["carrier"] == "UA" and back.inputs["hour"] == 5 and back.inputs["vec"] == [1, 2]
    assert back.inputs["ok"] is True and back.inputs["blob"] == {"b64": "/w=="}  # bytes that are not text
    assert back.inputs["dep_delay"] == pytest.approx(-2.5) and back.outputs["logits"] == [[1.0, 2.0]]
    assert score_of(back, "probabilities") == pytest.approx(0.25)
    assert math.isnan(score_of(back, "no_such_output"))  # two outputs: the pipeline must name one


def test_a_value_with_no_tensor_form_is_kept_as_json_text():
    back = round_trip(
        Prediction("r", 0, "m", 1, "", "s", {"p": [0.5]}, {"ragged": [[1, 2], [3]], "obj": {"a": 1}})
    )
    assert back.inputs == {"obj": '{"a": 1}', "ragged": "[[1, 2], [3]]"}


def test_classify_and_regress_records_hold_the_example_its_context_and_the_result():
    from tensorflow_serving.apis import prediction_log_pb2

    classify = Prediction(
        "c-1",
        5,
        "m",
        2,
        "",
        "serving_classify",
        {"classes": ["0", "1"], "scores": [0.3, 0.7]},
        {"x": 1.5, "tags": ["a", "b"]},
        "classify",
        {"origin": "EWR"},
    )
    log = prediction_log_pb2.PredictionLog.FromString(to_record(classify))
    assert log.WhichOneof("log_type") == "classify_log" and log.log_metadata.request_origin == "c-1"
    assert log.classify_log.request.input.example_list_with_context.context.features.feature["origin"]
    back = round_trip(classify)
    assert back.method == "classify" and back.request_id == "c-1" and back.version == 2
    assert features_of(back) == {"origin": "EWR", "x": 1.5, "tags": ["a", "b"]}
    assert score_of(back, "ignored") == pytest.approx(0.7)  # class "1"
    regress = round_trip(
        Prediction("g", 5, "m", 2, "canary", "serving_regress", {"value": 12.5}, {"x": 3}, "regress")
    )
    assert regress.method == "regress" and regress.label == "canary" and score_of(regress, "x") == 12.5
    assert regress.context is None and features_of(regress) == {"x": 3}


def test_a_serialized_example_sent_as_b64_is_read_as_its_features():
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    example.features.feature["origin"].bytes_list.value.append(b"JFK")
    example.features.feature["distance"].float_list.value.append(1000.0)
    sent = {"examples": {"b64": base64.b64encode(example.SerializeToString()).decode()}}
    back = round_trip(Prediction("e", 0, "m", 1, "", "serving_default", {"probabilities": [[0.1]]}, sent))
    assert features_of(back) == {"distance": 1000.0, "origin": "JFK"}
    assert score_of(back, "probabilities") == pytest.approx(0.1)


def test_records_of_the_earlier_format_still_read(tmp_path):
    """Before classify/regress logging: scalar inputs of shape [1], `probabilities` of [1, 1]."""
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2
    from tensorflow_serving.apis import logging_pb2, model_pb2, predict_pb2, prediction_log_pb2

    def tensor(**kw):
        dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in kw.pop("dims")]
        return tensor_pb2.TensorProto(tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=dims), **kw)

    spec = model_pb2.ModelSpec(name="flights_delay", signature_name="serving_default")
    spec.version.value = 1
    request = predict_pb2.PredictRequest(model_spec=spec, client_id=b"2013|1|4|UA|1|EWR|5")
    request.inputs["origin"].CopyFrom(tensor(dtype=7, string_val=[b"EWR"], dims=[1]))
    response = predict_pb2.PredictResponse(model_spec=spec)
    response.outputs["probabilities"].CopyFrom(tensor(dtype=1, float_val=[0.4], dims=[1, 1]))
    old = prediction_log_pb2.PredictionLog(
        log_metadata=logging_pb2.LogMetadata(model_spec=spec, timestamp_secs=7),
        predict_log=prediction_log_pb2.PredictLog(request=request, response=response),
    ).SerializeToString()
    append_batch(tmp_path, [old, old])  # the same bytes twice: one prediction
    (record,) = read_records(tmp_path).records
    p = from_record(record)
    assert (
        p.inputs == {"origin": "EWR"} and score_of(p, "probabilities") == pytest.approx(0.4) and p.time == 7
    )


def test_the_event_time_of_a_request_id_decides_its_span():
    cfg = load_pipeline("flights")  # event_time.id_columns: year, month, day of the example key
    assert event_time_of_id(cfg, "2013|1|16|UA|1545|EWR|515") == dt.datetime(2013, 1, 16, tzinfo=dt.UTC)
    assert event_time_of_id(cfg, "abc123/4") is None  # a generated id: the answer time decides
    assert event_time_of_id(cfg, "2013|13|1|UA|1|EWR|5") is None  # no such date
