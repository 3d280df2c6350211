"""The prediction log's records: TF Serving's own `PredictionLog` protos (tensorflow-serving-api),
one per prediction (one instance of a request), in span folders (ml/serving/log_store.py).

By the API that answered:
- `predict_log`: `request.inputs`, the instance's tensors as the client sent them (a batch
  dimension of 1 in front), `request.client_id` the request id; `response.outputs`, the
  instance's outputs. A bare tensor (one unnamed input or output) is named as TF Serving's
  columnar JSON names it: `inputs`, `outputs`.
- `classify_log` / `regress_log`: the instance's tf.Example (`example_list`, or
  `example_list_with_context` when the request had a context), `response.result`; these requests
  have no client id field, so the request id is in `log_metadata.request_origin`.
- `log_metadata`: the model, the version that answered, the signature, and `timestamp_secs`,
  when it was answered; `request.model_spec` what the client asked for (a label or a version).
JSON values become tensors as TF Serving reads them: text and `{"b64": ...}` DT_STRING,
integers DT_INT64, other numbers DT_FLOAT, booleans DT_BOOL; a value with no tensor form (ragged
lists, objects) is logged as its JSON text, never dropped. Written without TensorFlow's runtime
(the protos only), read the same way; TF Serving, TFX and TFDV read these records as they are.

The score the monitor judges (`score_of`): the pipeline's `monitoring.score_output` of a predict
answer (or its only output), the score of class "1" of a classify answer (else its last class),
the value of a regress answer.
"""

from __future__ import annotations

import base64
import functools
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml.model.signatures import EXAMPLES_INPUT
from ml.serving import log_store
from ml.serving.rest_api import CLASSES, SCORES, UNNAMED_INPUT, VALUE

# TensorProto dtypes (tensorflow/core/framework/types.proto)
DT_FLOAT, DT_STRING, DT_INT64, DT_BOOL = 1, 7, 9, 10
POSITIVE_CLASS = "1"
EXAMPLE_INPUTS = {EXAMPLES_INPUT, UNNAMED_INPUT}  # a predict input that may hold tf.Examples


@dataclass(frozen=True)
class Prediction:
    """One logged prediction."""

    request_id: str
    time: int  # epoch seconds: when it was answered
    model: str
    version: int  # the version that answered
    label: str  # the version label the client called ("" when it named a version, or none)
    signature: str
    outputs: dict[str, Any]  # predict: name -> value; classify: classes, scores; regress: value
    inputs: dict[str, Any] = field(default_factory=dict)  # predict: tensors; else tf.Example features
    method: str = "predict"
    context: dict[str, Any] | None = None  # classify/regress: the features every example shared


def warm() -> None:
    """Import the protos (and so TensorFlow's package) now, not on the first logged request."""
    from tensorflow_serving.apis import prediction_log_pb2  # noqa: F401


class _Ragged(ValueError):
    pass


def _leaves(value: Any) -> tuple[list[int], list[Any]]:
    """(dims, flat values) of a rectangular nested list; raises _Ragged otherwise."""
    if not isinstance(value, list):
        if isinstance(value, dict) and set(value) != {"b64"}:
            raise _Ragged
        return [], [value]
    if not value:
        return [0], []
    shapes = [_leaves(v) for v in value]
    if any(dims != shapes[0][0] for dims, _ in shapes):
        raise _Ragged
    return [len(value), *shapes[0][0]], [leaf for _, flat in shapes for leaf in flat]


def _bytes(value: Any) -> bytes:
    if isinstance(value, dict):
        return base64.b64decode(value["b64"])
    return value.encode() if isinstance(value, str) else bytes(value)


def _dtype(flat: list[Any]) -> int:
    if all(isinstance(v, str | bytes | dict) for v in flat):
        return DT_STRING
    if all(isinstance(v, bool) for v in flat):
        return DT_BOOL
    if all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
        return DT_INT64
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in flat):
        return DT_FLOAT
    raise _Ragged


_VALUES = {DT_STRING: "string_val", DT_BOOL: "bool_val", DT_INT64: "int64_val", DT_FLOAT: "float_val"}


def _scalar(value: Any) -> tuple[int, Any] | None:
    """(dtype, value) of a plain scalar: the common case, without the nested-list walk."""
    kind = type(value)
    if kind is str:
        return DT_STRING, value.encode()
    if kind is float:
        return DT_FLOAT, value
    if kind is int:
        return DT_INT64, value
    if kind is bool:
        return DT_BOOL, value
    return None


def fill_tensor(tensor, value: Any) -> None:
    """Write one instance's JSON value into an empty TensorProto, with a batch dimension of 1."""
    dims: list[int]
    scalar = _scalar(value)
    if scalar is not None:
        dtype, flat, dims = scalar[0], [scalar[1]], []
    else:
        try:
            dims, flat = _leaves(value)
            dtype = _dtype(flat) if flat else DT_FLOAT
            if dtype == DT_STRING:
                flat = [_bytes(v) for v in flat]
        except (_Ragged, ValueError, TypeError):  # no tensor form (or bad base64): its JSON text
            dims, flat, dtype = [], [json.dumps(value).encode()], DT_STRING
    tensor.dtype = dtype
    shape = tensor.tensor_shape.dim
    shape.add(size=1)
    for d in dims:
        shape.add(size=d)
    getattr(tensor, _VALUES[dtype]).extend(flat)


def to_tensor(value: Any):
    """One instance's JSON value as a TensorProto with a batch dimension of 1."""
    from tensorflow.core.framework import tensor_pb2

    tensor = tensor_pb2.TensorProto()
    fill_tensor(tensor, value)
    return tensor


def _text(raw: bytes) -> Any:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(raw).decode()}


def from_tensor(tensor) -> Any:
    """A logged TensorProto as the JSON value of one instance (the batch dimension of 1 dropped)."""
    if tensor.dtype == DT_STRING:
        flat: list[Any] = [_text(v) for v in tensor.string_val]
    elif tensor.dtype == DT_INT64:
        flat = [int(v) for v in tensor.int64_val]
    elif tensor.dtype == DT_BOOL:
        flat = [bool(v) for v in tensor.bool_val]
    else:
        flat = [float(v) for v in tensor.float_val]
    dims = [d.size for d in tensor.tensor_shape.dim][1:]
    if not dims:
        return flat[0] if flat else None

    def nest(values: list[Any], shape: list[int]) -> list[Any]:
        if len(shape) == 1:
            return values
        step = len(values) // shape[0] if shape[0] else 0
        return [nest(values[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]

    return nest(flat, dims)


def to_example(features: dict[str, Any]):
    """A tf.train.Example from a JSON object, as TF Serving's :classify/:regress build it
    (MakeExampleFromJsonObject): text and b64 bytes, integers int64, numbers float, lists repeated."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    for name, content in features.items():
        values = content if isinstance(content, list) else [content]
        feature = example.features.feature[name]
        try:
            dtype = _dtype(values) if values else DT_FLOAT
        except _Ragged:
            feature.bytes_list.value.append(json.dumps(content).encode())
            continue
        if dtype == DT_STRING:
            feature.bytes_list.value.extend(_bytes(v) for v in values)
        elif dtype in (DT_INT64, DT_BOOL):
            feature.int64_list.value.extend(int(v) for v in values)
        else:
            feature.float_list.value.extend(float(v) for v in values)
    return example


def from_example(example) -> dict[str, Any]:
    """A tf.Example's features as a JSON object (one value: a scalar)."""
    out: dict[str, Any] = {}
    for name, feature in sorted(example.features.feature.items()):
        kind = feature.WhichOneof("kind")
        raw = list(getattr(feature, kind).value) if kind else []
        values = [_text(v) for v in raw] if kind == "bytes_list" else raw
        out[name] = values[0] if len(values) == 1 else values
    return out


def _model_specs(model: str, version: int, label: str, signature: str):
    from tensorflow_serving.apis import model_pb2

    served = model_pb2.ModelSpec(name=model, signature_name=signature)
    served.version.value = int(version)
    asked = model_pb2.ModelSpec(name=model, signature_name=signature)
    if label:
        asked.version_label = label
    else:
        asked.version.value = int(version)
    return served, asked


@functools.lru_cache(maxsize=4096)
def _predict_header(model: str, version: int, label: str, signature: str) -> bytes:
    from tensorflow_serving.apis import logging_pb2, predict_pb2, prediction_log_pb2

    served, asked = _model_specs(model, version, label, signature)
    log = prediction_log_pb2.PredictLog(
        request=predict_pb2.PredictRequest(model_spec=asked),
        response=predict_pb2.PredictResponse(model_spec=served),
    )
    metadata = logging_pb2.LogMetadata(model_spec=served)
    return prediction_log_pb2.PredictionLog(log_metadata=metadata, predict_log=log).SerializeToString()


def _input_entry(name: str, value: Any) -> bytes:
    from tensorflow_serving.apis import prediction_log_pb2

    log = prediction_log_pb2.PredictionLog()
    fill_tensor(log.predict_log.request.inputs[name], value)
    return log.SerializeToString()


@functools.lru_cache(maxsize=1 << 16)
def _cached_input_entry(name: str, kind: str, value: Any) -> bytes:
    return _input_entry(name, value)


def _predict_record(p: Prediction) -> bytes:
    """A predict record as serialized PredictionLog pieces, concatenated: protobuf parses a
    concatenation as the merge of its pieces (a documented rule of the wire format), so what
    repeats from record to record (the model specs; an input's name and scalar value, as
    categories and rounded numbers do) is serialized once and cached (~25x faster per record)."""
    from tensorflow_serving.apis import logging_pb2, predict_pb2, prediction_log_pb2

    log = prediction_log_pb2.PredictionLog(
        log_metadata=logging_pb2.LogMetadata(timestamp_secs=int(p.time)),
        predict_log=prediction_log_pb2.PredictLog(
            request=predict_pb2.PredictRequest(client_id=p.request_id.encode())
        ),
    )
    outputs = log.predict_log.response.outputs
    for name, value in p.outputs.items():
        fill_tensor(outputs[name], value)
    parts = [_predict_header(p.model, int(p.version), p.label, p.signature), log.SerializeToString()]
    for name, value in p.inputs.items():
        kind = type(value)
        if value is None:
            continue
        if kind in _SCALARS and not (kind is float and value == 0.0):  # 0.0 == -0.0: not cached
            parts.append(_cached_input_entry(name, kind.__name__, value))  # 1, 1.0, True: 3 entries
        else:
            parts.append(_input_entry(name, value))
    return b"".join(parts)


_SCALARS = (str, int, float, bool)


def to_record(p: Prediction) -> bytes:
    """One serialized `tensorflow.serving.PredictionLog`."""
    if p.method == "predict":
        return _predict_record(p)
    from tensorflow_serving.apis import (
        classification_pb2,
        input_pb2,
        logging_pb2,
        prediction_log_pb2,
        regression_pb2,
    )

    served, asked = _model_specs(p.model, p.version, p.label, p.signature)
    metadata = logging_pb2.LogMetadata(model_spec=served, timestamp_secs=int(p.time))
    metadata.request_origin = p.request_id
    example = to_example(p.inputs)
    if p.context is not None:
        listed = input_pb2.ExampleListWithContext(examples=[example], context=to_example(p.context))
        model_input = input_pb2.Input(example_list_with_context=listed)
    else:
        model_input = input_pb2.Input(example_list=input_pb2.ExampleList(examples=[example]))
    if p.method == "classify":
        classes = [
            classification_pb2.Class(label=str(c), score=float(s))
            for c, s in zip(p.outputs[CLASSES], p.outputs[SCORES], strict=True)
        ]
        result = classification_pb2.ClassificationResult(
            classifications=[classification_pb2.Classifications(classes=classes)]
        )
        classify = prediction_log_pb2.ClassifyLog(
            request=classification_pb2.ClassificationRequest(model_spec=asked, input=model_input),
            response=classification_pb2.ClassificationResponse(model_spec=served, result=result),
        )
        return prediction_log_pb2.PredictionLog(
            log_metadata=metadata, classify_log=classify
        ).SerializeToString()
    result_r = regression_pb2.RegressionResult(
        regressions=[regression_pb2.Regression(value=float(p.outputs[VALUE]))]
    )
    regress = prediction_log_pb2.RegressLog(
        request=regression_pb2.RegressionRequest(model_spec=asked, input=model_input),
        response=regression_pb2.RegressionResponse(model_spec=served, result=result_r),
    )
    return prediction_log_pb2.PredictionLog(log_metadata=metadata, regress_log=regress).SerializeToString()


def _examples(model_input) -> tuple[dict[str, Any], dict[str, Any] | None]:
    if model_input.WhichOneof("kind") == "example_list_with_context":
        listed = model_input.example_list_with_context
        return from_example(listed.examples[0]), from_example(listed.context)
    return from_example(model_input.example_list.examples[0]), None


def from_record(data: bytes) -> Prediction:
    from tensorflow_serving.apis import prediction_log_pb2

    log = prediction_log_pb2.PredictionLog.FromString(data)
    meta = log.log_metadata
    kind = log.WhichOneof("log_type")
    call = getattr(log, kind)
    asked, served = call.request.model_spec, call.response.model_spec
    base = {
        "time": int(meta.timestamp_secs),
        "model": meta.model_spec.name,
        "version": int(served.version.value or meta.model_spec.version.value),
        "label": asked.version_label,
        "signature": meta.model_spec.signature_name,
    }
    if kind == "predict_log":
        return Prediction(
            request_id=call.request.client_id.decode(),
            outputs={name: from_tensor(t) for name, t in sorted(call.response.outputs.items())},
            inputs={name: from_tensor(t) for name, t in sorted(call.request.inputs.items())},
            **base,
        )
    inputs, context = _examples(call.request.input)
    if kind == "classify_log":
        classes = call.response.result.classifications[0].classes
        outputs: dict[str, Any] = {CLASSES: [c.label for c in classes], SCORES: [c.score for c in classes]}
    else:
        outputs = {VALUE: call.response.result.regressions[0].value}
    method = kind.removesuffix("_log")
    return Prediction(
        meta.request_origin, outputs=outputs, inputs=inputs, method=method, context=context, **base
    )


def _first_number(value: Any) -> float:
    while isinstance(value, list):
        value = value[0] if value else None
    try:
        return float(value) if value is not None and not isinstance(value, dict | str) else math.nan
    except (TypeError, ValueError):
        return math.nan


def score_of(p: Prediction, output: str) -> float:
    """The score the monitor judges (NaN when the answer has none)."""
    if p.method == "regress":
        return _first_number(p.outputs.get(VALUE))
    if p.method == "classify":
        classes, scores = p.outputs.get(CLASSES, []), p.outputs.get(SCORES, [])
        chosen = classes.index(POSITIVE_CLASS) if POSITIVE_CLASS in classes else len(scores) - 1
        return _first_number(scores[chosen]) if scores else math.nan
    if output in p.outputs:
        return _first_number(p.outputs[output])
    return _first_number(next(iter(p.outputs.values()))) if len(p.outputs) == 1 else math.nan


def features_of(p: Prediction) -> dict[str, Any]:
    """The features a prediction was made from: named inputs, or its tf.Example's features (a
    predict call with one serialized tf.Example per instance, e.g. `{"b64": ...}`, is decoded)."""
    if p.method != "predict":
        return {**(p.context or {}), **p.inputs}
    if len(p.inputs) == 1 and set(p.inputs) & EXAMPLE_INPUTS:
        (value,) = p.inputs.values()
        decoded = _decoded_example(value)
        if decoded is not None:
            return decoded
    return dict(p.inputs)


def _decoded_example(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, str | dict):
        return None
    from google.protobuf.message import DecodeError
    from tensorflow.core.example import example_pb2

    try:
        example = example_pb2.Example.FromString(_bytes(value))
    except (DecodeError, ValueError, TypeError):
        return None
    return from_example(example) if example.features.feature else None


def write_span(folder: Path, predictions: Iterable[Prediction]) -> int:
    """The whole span at once (the embedded default), replacing it (log_store.write_span)."""
    return log_store.write_span(folder, (to_record(p) for p in predictions))


@dataclass(frozen=True)
class SpanLog:
    predictions: list[Prediction]
    late: int  # predictions logged after the span was closed
    complete: bool


def read_log(folder: Path) -> SpanLog:
    """Every prediction logged for the span (complete or not), each once."""
    found = log_store.read_records(folder)
    return SpanLog([from_record(r) for r in found.records], found.late, found.complete)


def read_span(folder: Path) -> list[Prediction]:
    return read_log(folder).predictions
