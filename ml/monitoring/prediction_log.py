"""The prediction log: TF Serving `PredictionLog` records, span-partitioned gzipped TFRecords.

`<data_root>/<pipeline>_predictions/span=<id>/` holds `*.tfrecord.gz` files and, once the span is
complete, `_SUCCESS`. One record per prediction (one instance of a request):

- `log_metadata.model_spec`: model name, the version that answered, the signature;
  `log_metadata.timestamp_secs`: when it was answered;
- `predict_log.request.model_spec`: what the client asked for (`version_label` stable|canary, or a
  version); `request.inputs`: the raw features it sent (one tensor each, shape [1]; a feature it
  left out is absent); `request.client_id`: the request id (TF Serving's log has no field for
  it, and an extra input would make the logged request invalid for the signature);
- `predict_log.response.model_spec`: the resolved version; `response.outputs["probabilities"]`.

Both writers use this module: `ml serve-span` (embedded default, one atomic folder per span) and
the prediction-logging service in front of TF Serving (`ml.serving.logging_proxy`: one file per
request batch, temp + rename, compacted when the span is closed). Files are written with
ml.tfrecord (no TensorFlow); the protos are tensorflow-serving-api's.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ml.atomic import atomic_dir, default_mode
from ml.model.signatures import OUTPUT_KEY
from ml.tfrecord import gzipped_tfrecords, read_tfrecords, write_tfrecords

_BATCHES = itertools.count()  # unique batch file names within a process (thread-safe in CPython)

DONE_MARKER = "_SUCCESS"
PART_GLOB = "*.tfrecord.gz"
COMPACTED = "predictions-00000-of-00001.tfrecord.gz"

# TensorProto dtypes (tensorflow/core/framework/types.proto)
DT_FLOAT, DT_STRING, DT_INT64 = 1, 7, 9


@dataclass
class Prediction:
    """One logged prediction."""

    request_id: str
    time: int  # epoch seconds
    model: str
    version: int  # the version that answered
    label: str  # the version label the client called ("" when it named a version)
    signature: str
    score: float
    inputs: dict[str, Any] = field(default_factory=dict)  # raw features as sent (None = left out)


def _tensor(value: Any):
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2

    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1)])
    if isinstance(value, str | bytes):
        raw = value.encode() if isinstance(value, str) else value
        return tensor_pb2.TensorProto(dtype=DT_STRING, tensor_shape=shape, string_val=[raw])
    if isinstance(value, bool | int | np.integer):
        return tensor_pb2.TensorProto(dtype=DT_INT64, tensor_shape=shape, int64_val=[int(value)])
    return tensor_pb2.TensorProto(dtype=DT_FLOAT, tensor_shape=shape, float_val=[float(value)])


def _value(tensor) -> Any:
    if tensor.dtype == DT_STRING:
        return tensor.string_val[0].decode() if tensor.string_val else None
    if tensor.dtype == DT_INT64:
        return int(tensor.int64_val[0]) if tensor.int64_val else None
    return float(tensor.float_val[0]) if tensor.float_val else None


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def to_record(p: Prediction) -> bytes:
    """One serialized `tensorflow.serving.PredictionLog`."""
    from tensorflow_serving.apis import logging_pb2, model_pb2, predict_pb2, prediction_log_pb2

    served = model_pb2.ModelSpec(name=p.model, signature_name=p.signature)
    served.version.value = int(p.version)
    asked = model_pb2.ModelSpec(name=p.model, signature_name=p.signature)
    if p.label:
        asked.version_label = p.label
    else:
        asked.version.value = int(p.version)
    request = predict_pb2.PredictRequest(model_spec=asked, client_id=p.request_id.encode())
    for name, value in p.inputs.items():
        if not _missing(value):
            request.inputs[name].CopyFrom(_tensor(value))
    response = predict_pb2.PredictResponse(model_spec=served)
    out = response.outputs[OUTPUT_KEY]
    out.CopyFrom(_tensor(float(p.score)))
    out.tensor_shape.dim.add(size=1)  # [1, 1], as the signature answers one instance
    return prediction_log_pb2.PredictionLog(
        log_metadata=logging_pb2.LogMetadata(model_spec=served, timestamp_secs=int(p.time)),
        predict_log=prediction_log_pb2.PredictLog(request=request, response=response),
    ).SerializeToString()


def from_record(data: bytes) -> Prediction:
    from tensorflow_serving.apis import prediction_log_pb2

    log = prediction_log_pb2.PredictionLog.FromString(data)
    request, response = log.predict_log.request, log.predict_log.response
    return Prediction(
        request_id=request.client_id.decode(),
        time=int(log.log_metadata.timestamp_secs),
        model=log.log_metadata.model_spec.name,
        version=int(response.model_spec.version.value or log.log_metadata.model_spec.version.value),
        label=request.model_spec.version_label,
        signature=log.log_metadata.model_spec.signature_name,
        score=float(_value(response.outputs[OUTPUT_KEY])),
        inputs={name: _value(t) for name, t in sorted(request.inputs.items())},
    )


def write_span(folder: Path, predictions: Iterable[Prediction]) -> int:
    """The whole span at once (embedded default): one file + `_SUCCESS`, one atomic folder swap,
    so a re-run replaces the span and a reader never sees half of it."""
    with atomic_dir(folder) as tmp:
        count = write_tfrecords(tmp / COMPACTED, (to_record(p) for p in predictions))
        (tmp / DONE_MARKER).write_text("")
    return count


def append_batch(folder: Path, records: list[bytes], fsync: bool = False) -> Path:
    """One request batch as its own file (temp + rename): once this returns, the batch survives a
    kill of the writer (the logging service acknowledges the request after it); `fsync` also a
    crash of the host. One open, write, rename: this is on every logged request's path."""
    name = f"part-{time.time_ns():020d}-{os.getpid()}-{next(_BATCHES)}.tfrecord.gz"
    tmp, final = folder / f".{name}.tmp", folder / name
    data = gzipped_tfrecords(records, compresslevel=1)  # compacted at level 9 when the span closes
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, default_mode(directory=False))
    except FileNotFoundError:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, default_mode(directory=False))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


def close_span(folder: Path) -> int:
    """Compact the span's batch files into one (sorted by request id) and write `_SUCCESS`."""
    predictions = sorted(read_span(folder), key=lambda p: (p.request_id, p.time))
    parts = sorted(folder.glob(PART_GLOB))
    return write_span(folder, predictions) if parts or not (folder / DONE_MARKER).is_file() else 0


def is_complete(folder: Path) -> bool:
    return (folder / DONE_MARKER).is_file()


def read_span(folder: Path) -> list[Prediction]:
    """Every prediction logged for the span (complete or not), file by file."""
    if not folder.is_dir():
        return []
    return [from_record(r) for f in sorted(folder.glob(PART_GLOB)) for r in read_tfrecords(f)]
