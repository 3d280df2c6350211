"""TF Serving's REST API as pure functions: which call a URL names, what a request asks for, and
what TF Serving's answer says about each of its instances. No TensorFlow, no I/O: the
prediction-logging service (ml/serving/logging_proxy.py) is these functions plus forwarding and
writing, and tests/unit/test_rest_api.py checks them request by request.

The shapes, as TF Serving's REST API documents them (tensorflow.org/tfx/serving/api_rest;
http_rest_api_handler.cc, json_tensor.cc):
- `POST /v1/models/<m>[/versions/<v>|/labels/<l>]:predict` with `instances` (row format: a list
  of objects of named inputs, or of bare values for a signature with one input) or `inputs`
  (columnar: an object of named tensors, or one bare tensor), answered with `predictions` (one
  entry per instance: a bare value for a signature with one output, an object of named outputs
  for several) or `outputs` (columnar, the same way). A binary value is `{"b64": "..."}`.
- `:classify` and `:regress` with `examples` (objects of tf.Example features) and an optional
  `context` object (features every example shares), answered with `result`: per example a list of
  `[class, score]` pairs, or one number.
A bare tensor is logged under TF Serving's own columnar keys: input `inputs`, output `outputs`.

Fields of the logging service's own, removed before the body is forwarded: `request_id` (one id
for the request) or `request_ids` (one per instance), `event_time` or `event_times` (the time of
the event a prediction is about: ISO 8601 or epoch seconds; it decides the prediction's span).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

METHODS = ("predict", "classify", "regress")
UNNAMED_INPUT, UNNAMED_OUTPUT = "inputs", "outputs"
CLASSES, SCORES, VALUE = "classes", "scores", "value"  # a classify / regress answer, per instance
LOGGER_FIELDS = ("request_id", "request_ids", "event_time", "event_times")
MAX_ID_LENGTH = 256
_ID = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces: safe in a header and a file
_EPOCH = re.compile(r"^-?\d+(\.\d+)?$")
_MODEL = re.compile(r"^/v1/models/([^/:]+)")
_INFERENCE = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:([A-Za-z]+)$")


class BadRequest(ValueError):
    """A request TF Serving answers with 400 (checked here, so it is never forwarded)."""


class AnswerMismatch(ValueError):
    """TF Serving answered 200, but not with one answer per instance of the request."""


@dataclass(frozen=True)
class Call:
    """An inference call: the model, the version or label the client named, the method."""

    model: str
    version: int | None
    label: str | None
    method: str

    def pinned(self, version: int) -> str:
        """The same call on one version: what the service forwards, so it knows who answered."""
        return f"/v1/models/{self.model}/versions/{version}:{self.method}"


def model_of(path: str) -> str | None:
    """The model a `/v1/models/<m>...` URL names (None for any other URL)."""
    match = _MODEL.match(path)
    return match.group(1) if match else None


def inference_call(method: str, path: str) -> Call | None:
    """The inference call a request makes (None: status, metadata or anything else)."""
    match = _INFERENCE.match(path) if method == "POST" else None
    if match is None or match.group(4) not in METHODS:
        return None
    version = int(match.group(2)) if match.group(2) else None
    return Call(match.group(1), version, match.group(3), match.group(4))


def _is_value(item: Any) -> bool:
    """A tensor value, not an object of named tensors (`{"b64": ...}` is a value)."""
    return not isinstance(item, dict) or set(item) == {"b64"}


@dataclass(frozen=True)
class Request:
    """What a request asks for, as the service logs it."""

    call: Call
    body: bytes  # forwarded upstream: the client's bytes, less the service's own fields
    signature: str  # "" = the model's default signature
    instances: list[dict[str, Any]]  # predict: input name -> value; classify/regress: features
    context: dict[str, Any] | None = None  # classify/regress: features every example shares
    columnar: dict[str, Any] | None = None  # predict `inputs`, as sent (logged whole if not split)
    batched: bool = True  # columnar inputs share a first dimension: one instance per row of it
    request_id: str | None = None  # one id for the whole request
    request_ids: list[str] | None = None  # one id per instance
    event_times: list[dt.datetime | None] = field(default_factory=list)  # per instance


def parse_event_time(value: Any, where: str) -> dt.datetime:
    """ISO 8601 text (a date, or a time without zone: UTC) or epoch seconds, as a UTC instant."""
    try:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, int | float) or _EPOCH.match(str(value)):
            return dt.datetime.fromtimestamp(float(value), dt.UTC)
        parsed = dt.datetime.fromisoformat(str(value))
    except (TypeError, ValueError, OverflowError, OSError):
        raise BadRequest(f"{where} {value!r} is not ISO 8601 time or epoch seconds") from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _check_id(value: Any, where: str) -> str:
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
    if text is None or len(text) > MAX_ID_LENGTH or not _ID.match(text):
        raise BadRequest(
            f"{where} {value!r} must be printable ASCII without spaces, at most {MAX_ID_LENGTH} characters"
        )
    return text


def _instances(call: Call, body: dict[str, Any]) -> tuple[list[dict], dict | None, dict | None, bool]:
    """(instances, context, columnar inputs, batched) of a request, in TF Serving's own words."""
    if call.method != "predict":
        examples, context = body.get("examples"), body.get("context")
        if examples is None:
            raise BadRequest("Missing 'examples' key")
        if not isinstance(examples, list) or not all(isinstance(e, dict) for e in examples):
            raise BadRequest("'examples' must be an array of JSON objects")
        if context is not None and not isinstance(context, dict):
            raise BadRequest("'context' must be a JSON object")
        return list(examples), context, None, True
    if ("instances" in body) == ("inputs" in body):
        if "instances" in body:
            raise BadRequest(
                "Not formatted correctly expecting only one of 'inputs' or 'instances' keys exists"
            )
        raise BadRequest("Missing 'inputs' or 'instances' key")
    if "instances" in body:
        rows = body["instances"]
        if not isinstance(rows, list):
            raise BadRequest("Excepting 'instances' to be an list/array")  # [sic], TF Serving's words
        bare = [_is_value(row) for row in rows]
        if any(bare) and not all(bare):
            raise BadRequest(
                "Expecting object but got list or value: every instance names its inputs, or none does"
            )
        instances = [
            {UNNAMED_INPUT: row} if is_bare else row for row, is_bare in zip(rows, bare, strict=True)
        ]
        return instances, None, None, True
    inputs = body["inputs"]
    named = inputs if not _is_value(inputs) else {UNNAMED_INPUT: inputs}
    length = _batch_length(named)
    if not length:
        return [dict(named)], None, named, False
    return [{name: values[i] for name, values in named.items()} for i in range(length)], None, named, True


def _batch_length(columns: dict[str, Any]) -> int:
    """The first dimension every columnar tensor shares (0: none; TF Serving allows that)."""
    lengths = {len(v) if isinstance(v, list) else -1 for v in columns.values()}
    return lengths.pop() if len(lengths) == 1 and min(lengths) > 0 else 0


def parse_request(
    call: Call, raw: bytes, header_id: str | None = None, header_event_time: str | None = None
) -> Request:
    """A request body as TF Serving reads it, plus the service's own fields (removed). Raises
    BadRequest for what TF Serving would answer 400 to: the request is then never forwarded."""
    try:
        body = json.loads(raw or b"")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"JSON Parse error: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest(f"JSON Value: {json.dumps(body)[:80]} Is not object")
    signature = body.get("signature_name", "")
    if not isinstance(signature, str):
        raise BadRequest("'signature_name' must be a string")
    instances, context, columnar, batched = _instances(call, body)
    own = {name: body.pop(name) for name in LOGGER_FIELDS if name in body}
    ids = own.get("request_ids")
    if ids is not None and (not isinstance(ids, list) or len(ids) != len(instances)):
        count = len(ids) if isinstance(ids, list) else "no list of"
        raise BadRequest(f"'request_ids' has {count} ids for {len(instances)} instances")
    request_ids = [_check_id(i, "request id") for i in ids] if ids is not None else None
    one_id = header_id if header_id is not None else own.get("request_id")
    request_id = _check_id(one_id, "request id") if one_id is not None else None
    times = own.get("event_times")
    if times is not None and (not isinstance(times, list) or len(times) != len(instances)):
        count = len(times) if isinstance(times, list) else "no list of"
        raise BadRequest(f"'event_times' has {count} times for {len(instances)} instances")
    one_time = header_event_time if header_event_time is not None else own.get("event_time")
    if times is None:
        times = [one_time] * len(instances)
    event_times = [None if t is None else parse_event_time(t, "event time") for t in times]
    forwarded = json.dumps(body).encode() if own else raw
    return Request(
        call,
        forwarded,
        signature,
        instances,
        context,
        columnar,
        batched,
        request_id,
        request_ids,
        event_times,
    )


@dataclass(frozen=True)
class Answered:
    """One logged prediction: an instance of the request and TF Serving's answer to it."""

    index: int | None  # its place in the request's batch (None: the whole request as one)
    inputs: dict[str, Any]
    outputs: dict[str, Any]  # predict: output name -> value; classify: classes, scores; regress: value


def _answer(raw: bytes, key: str) -> Any:
    try:
        answer = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AnswerMismatch(f"TF Serving's answer is not JSON ({exc})") from None
    if not isinstance(answer, dict) or key not in answer:
        raise AnswerMismatch(f"TF Serving's answer has no {key!r}")
    return answer[key]


def _named(value: Any) -> dict[str, Any]:
    return dict(value) if not _is_value(value) else {UNNAMED_OUTPUT: value}


def _one_per_instance(request: Request, values: Any, key: str) -> list[Any]:
    if not isinstance(values, list) or len(values) != len(request.instances):
        count = len(values) if isinstance(values, list) else "no list of"
        raise AnswerMismatch(f"TF Serving answered {count} {key} for {len(request.instances)} instances")
    return values


def _classifications(entry: Any) -> dict[str, Any]:
    if not isinstance(entry, list) or not all(isinstance(p, list) and len(p) == 2 for p in entry):
        raise AnswerMismatch(f"a classify result is not a list of [class, score] pairs: {str(entry)[:80]}")
    return {CLASSES: [str(c) for c, _ in entry], SCORES: [s for _, s in entry]}


def pair(request: Request, raw_answer: bytes) -> list[Answered]:
    """TF Serving's 200 answer matched to the request's instances, one Answered each. A columnar
    request whose outputs do not share the inputs' first dimension is one Answered, whole.
    Raises AnswerMismatch when the answer does not fit the request."""
    method = request.call.method
    if method == "classify" or method == "regress":
        result = _one_per_instance(request, _answer(raw_answer, "result"), "results")
        answers = [_classifications(r) if method == "classify" else {VALUE: r} for r in result]
        return [Answered(i, request.instances[i], o) for i, o in enumerate(answers)]
    if request.columnar is None:
        predictions = _one_per_instance(request, _answer(raw_answer, "predictions"), "predictions")
        return [Answered(i, request.instances[i], _named(p)) for i, p in enumerate(predictions)]
    outputs = _named(_answer(raw_answer, "outputs"))
    count = len(request.instances)
    if request.batched and all(isinstance(v, list) and len(v) == count for v in outputs.values()):
        return [
            Answered(i, request.instances[i], {name: v[i] for name, v in outputs.items()})
            for i in range(count)
        ]
    return [Answered(None, dict(request.columnar), outputs)]


def instance_ids(request: Request, answered: list[Answered], batch_id: str) -> list[str]:
    """The request id of each logged prediction: the client's per-instance ids; else the one id
    (the client's or `batch_id`) for a single prediction, `<id>/<index>` for each of several."""
    one = request.request_id or batch_id
    if request.request_ids is not None and all(a.index is not None for a in answered):
        return [request.request_ids[a.index] for a in answered if a.index is not None]
    if len(answered) == 1:
        return [one]
    return [f"{one}/{a.index}" for a in answered]
