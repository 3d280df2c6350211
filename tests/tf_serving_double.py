"""A TEST DOUBLE of TF Serving's REST API — not TF Serving (no TF Serving binary exists here).

It answers the endpoints push / rollback / serving-status and clients use, with TF Serving's rules:
- `GET  /v1/models/<m>[/versions/<v>|/labels/<l>]`: model_version_status.
- `POST /v1/models/<m>[/versions/<v>|/labels/<l>]:predict`: row format (`instances`: objects of
  named inputs, each with exactly the signature's inputs as json_tensor.cc demands, or bare values
  for a one-input signature) and columnar format (`inputs`: an object of tensors, or one tensor);
  `{"b64": ...}` is bytes. Answers `predictions` (one output: bare values; several: an object per
  instance) or `outputs` (columnar), as TF Serving does.
- `POST /v1/models/<m>[/versions/<v>|/labels/<l>]:regress` and `:classify`: `examples` as JSON
  objects (with the request's `context` merged in), turned into tf.Examples from the keys given (a
  feature left out is absent from the Example, as in TF Serving's MakeExampleFromJsonObject), fed
  to the signature's one `inputs` string tensor; answers `{"result": [value per example]}`, or for
  :classify `{"result": [[[class, score], ...] per example]}` from outputs `classes`/`scores`.
- A malformed body gets 400 `{"error": ...}`, TF Serving's error shape.
Predictions are real: each version folder is loaded with `tf.saved_model.load`.

Two ways to tell it what to serve:
- `config_file=<serving_root>/models.config` (what TF Serving's `--model_config_file` reads): on
  every request it "polls" the file and applies a changed config as ServerCore::ReloadConfig does:
  the `specific { versions }` policy says which versions to load, `version_labels` name versions,
  and a label may point only at an AVAILABLE version unless `allow_version_labels_for_unavailable_models`
  (then only a new, or unchanged, label may point at one that is not loaded yet). A config that
  breaks the rule is refused as a whole: the old versions and labels stay, the error is kept in
  `config_errors` (TF Serving logs it and retries on the next poll).
- without it, the `latest {num_versions: 1}` policy on `base_path`: the highest integer folder that
  loads is AVAILABLE; a version that fails leaves the previous one serving.
A version listed in `fail_versions` (or whose SavedModel does not load) is reported `END` with an error.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ml.errors import PipelineError
from ml.serving.models_config import parse  # TF Serving's own ModelServerConfig proto

_MODEL = r"^/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?"
_CALL = re.compile(_MODEL + r":(predict|classify|regress)$")
_STATUS = re.compile(_MODEL + r"$")


class ServingFailure(Exception):
    """An error TF Serving answers with an HTTP status."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class TFServingDouble:
    """`with TFServingDouble(base_path, name) as double: double.url` -> http://127.0.0.1:PORT."""

    def __init__(
        self,
        base_path: Path | None,
        model_name: str,
        fail_versions: tuple[int, ...] = (),
        *,
        config_file: Path | None = None,
        allow_version_labels_for_unavailable_models: bool = False,
    ):
        self.base_path, self.model_name = Path(base_path) if base_path else None, model_name
        self.fail_versions = set(fail_versions)
        self.config_file = Path(config_file) if config_file else None
        self.allow_unavailable_labels = allow_version_labels_for_unavailable_models
        self.aspired: list[int] | None = None  # None: latest policy over base_path
        self.labels: dict[str, int] = {}
        self.config_errors: list[str] = []
        self._applied: str | None = None
        self._loaded: dict[tuple[str, int], object] = {}
        self._errors: dict[tuple[str, int], str] = {}
        self._lock = threading.RLock()
        self.requests: list[str] = []

    # ---- model management (what TF Serving's file system source + manager would do)
    def _load(self, version: int):
        key = (str(self.base_path), version)
        with self._lock:
            if key in self._loaded or key in self._errors:
                return self._loaded.get(key)
            if version in self.fail_versions:
                self._errors[key] = "test double: configured to fail loading this version"
                return None
            try:
                import tensorflow as tf

                self._loaded[key] = tf.saved_model.load(str(Path(str(self.base_path)) / str(version)))
            except Exception as exc:  # noqa: BLE001 -- reported like TF Serving would
                self._errors[key] = f"{type(exc).__name__}: {exc}"
            return self._loaded.get(key)

    def _on_disk(self) -> list[int]:
        if self.base_path is None or not self.base_path.is_dir():
            return []
        return sorted(int(p.name) for p in self.base_path.iterdir() if p.is_dir() and p.name.isdigit())

    def poll(self) -> None:
        """Re-read models.config; apply it if it changed (ServerCore::ReloadConfig)."""
        if self.config_file is None:
            return
        with self._lock:
            text = self.config_file.read_text() if self.config_file.is_file() else ""
            if text == self._applied:
                return
            try:
                entry = parse(text, str(self.config_file)).get(self.model_name) if text else None
            except PipelineError as exc:
                self._refuse(str(exc))
                return
            available = self._available()
            for label, version in sorted((entry.labels if entry else {}).items()):
                unchanged_or_new = self.labels.get(label, version) == version
                if not (self.allow_unavailable_labels and unchanged_or_new) and version not in available:
                    self._refuse(
                        f"Request to assign label to version {version} of model {self.model_name}, "
                        "which is not currently available for inference"
                    )
                    return  # refused: old versions and labels stay
            self._applied = text
            if entry is None:
                self.aspired, self.labels = [], {}
                return
            self.base_path = Path(entry.base_path)
            self.aspired = list(entry.versions) if entry.versions is not None else None
            self.labels = dict(entry.labels)

    def _refuse(self, error: str) -> None:
        if not self.config_errors or self.config_errors[-1] != error:
            self.config_errors.append(error)

    def _states(self) -> list[tuple[int, str, str]]:
        """(version, state, error) of the versions the policy aspires to, newest first."""
        if self.aspired is None:  # latest policy, availability preserving
            out = []
            for version in reversed(self._on_disk()):
                if self._load(version) is None:
                    out.append((version, "END", self._errors[(str(self.base_path), version)]))
                    continue
                out.append((version, "AVAILABLE", ""))
                break
            return out
        states = []
        for version in sorted(self.aspired, reverse=True):
            if self._load(version) is None:
                states.append((version, "END", self._errors[(str(self.base_path), version)]))
            else:
                states.append((version, "AVAILABLE", ""))
        return states

    def _available(self) -> set[int]:
        return {v for v, state, _ in self._states() if state == "AVAILABLE"}

    def _resolve(self, version: int | None, label: str | None) -> int | None:
        if label is not None:
            if label not in self.labels:
                raise ServingFailure(400, f"Unrecognized servable version label: {label}")
            return self.labels[label]
        return version

    def status(self, version: int | None = None, label: str | None = None) -> list[dict]:
        self.poll()
        version = self._resolve(version, label)
        states = self._states()
        if version is not None:
            states = [s for s in states if s[0] == version]
            if not states:
                raise ServingFailure(404, f"Could not find version {version} of model {self.model_name}")
        return [
            {
                "version": str(v),
                "state": state,
                "status": {"error_code": "UNKNOWN" if error else "OK", "error_message": error},
            }
            for v, state, error in states
        ]

    def _servable(self, version: int | None, label: str | None):
        self.poll()
        version = self._resolve(version, label)
        available = self._available()
        version = version if version is not None else max(available, default=None)
        if version not in available:
            raise ServingFailure(
                404, f"Servable not found for request: Specific({self.model_name}, {version})"
            )
        return self._loaded[(str(self.base_path), version)]

    def _signature(self, version: int | None, label: str | None, body: dict):
        name = body.get("signature_name") or "serving_default"
        signatures = self._servable(version, label).signatures
        if name not in signatures:
            raise ServingFailure(400, f'Serving signature name: "{name}" not found in signature def')
        return signatures[name]

    def predict(self, version: int | None, body: dict, label: str | None = None) -> dict:
        """Row (`instances`) or columnar (`inputs`) format, as json_tensor.cc reads them: named
        inputs (objects) or, for a signature with one input, bare values; `{"b64": ...}` bytes.
        Answered as TF Serving does: one output bare, several as objects (row) or one object
        of tensors (columnar)."""
        import tensorflow as tf

        signature = self._signature(version, label, body)
        specs = signature.structured_input_signature[1]
        if ("instances" in body) == ("inputs" in body):
            raise ServingFailure(400, "Missing 'inputs' or 'instances' key")
        row_format = "instances" in body
        if row_format:
            rows = body["instances"]
            if not isinstance(rows, list):
                raise ServingFailure(400, "Excepting 'instances' to be an list/array")
            named = bool(rows) and all(_is_named(r) for r in rows)
            if not named and len(specs) != 1:
                raise ServingFailure(
                    400, "instances must be JSON objects for a signature with several inputs"
                )
            for i, row in enumerate(rows):
                if named and set(row) != set(specs):
                    raise ServingFailure(
                        400,
                        f"Failed to process element: {i} of 'instances' list. JSON object: {json.dumps(row)} "
                        f"must only have keys: {','.join(sorted(specs))}",
                    )
            columns = {n: [_decode(r[n] if named else r) for r in rows] for n in specs}
        else:
            inputs = body["inputs"]
            if _is_named(inputs):
                if set(inputs) != set(specs):
                    raise ServingFailure(400, f"inputs must only have keys: {','.join(sorted(specs))}")
                columns = {n: _decode(inputs[n]) for n in specs}
            elif len(specs) == 1:
                columns = {next(iter(specs)): _decode(inputs)}
            else:
                raise ServingFailure(400, "inputs must be a JSON object for a signature with several inputs")
        try:
            outputs = signature(**{n: tf.constant(v, dtype=specs[n].dtype) for n, v in columns.items()})
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as exc:
            raise ServingFailure(400, f"{type(exc).__name__}: {exc}") from None
        values = {n: _json(t.numpy().tolist()) for n, t in sorted(outputs.items())}
        if not row_format:
            return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
        if len(values) == 1:
            return {"predictions": next(iter(values.values()))}
        count = len(next(iter(values.values())))
        return {"predictions": [{n: v[i] for n, v in values.items()} for i in range(count)]}

    def _examples(self, version: int | None, body: dict, label: str | None):
        """The signature and the tf.Examples of a :classify/:regress body (context merged in)."""
        import tensorflow as tf

        signature = self._signature(version, label, body)
        specs = signature.structured_input_signature[1]
        if list(specs) != ["inputs"] or specs["inputs"].dtype != tf.string:
            raise ServingFailure(400, "Expected one input Tensor `inputs` of serialized tf.Examples.")
        context = body.get("context") or {}
        examples = [_example({**context, **row}).SerializeToString() for row in body["examples"]]
        return signature, tf.constant(examples)

    def regress(self, version: int | None, body: dict, label: str | None = None) -> dict:
        import tensorflow as tf

        signature, examples = self._examples(version, body, label)
        if len(signature.structured_outputs) != 1:
            raise ServingFailure(400, "Expected one input Tensor `inputs` and one output Tensor `outputs`.")
        try:
            (values,) = signature(inputs=examples).values()
        except tf.errors.InvalidArgumentError as exc:
            raise ServingFailure(400, str(exc.message)) from None
        return {"result": values.numpy().reshape(-1).tolist()}

    def classify(self, version: int | None, body: dict, label: str | None = None) -> dict:
        """TF Serving's Classify API: outputs `classes` (strings) and/or `scores`, per example a
        list of [class, score] pairs (no `classes` output: empty class names)."""
        import tensorflow as tf

        signature, examples = self._examples(version, body, label)
        try:
            outputs = signature(inputs=examples)
        except tf.errors.InvalidArgumentError as exc:
            raise ServingFailure(400, str(exc.message)) from None
        if "scores" not in outputs and "classes" not in outputs:
            raise ServingFailure(400, "Expected classification signature outputs `classes` and/or `scores`")
        scores = outputs["scores"].numpy().tolist() if "scores" in outputs else None
        classes = _json(outputs["classes"].numpy().tolist()) if "classes" in outputs else None
        rows = len(scores if scores is not None else classes)
        result = []
        for i in range(rows):
            width = len(scores[i] if scores is not None else classes[i])
            names = classes[i] if classes is not None else [""] * width
            values = scores[i] if scores is not None else [0.0] * width
            result.append([[n, s] for n, s in zip(names, values, strict=True)])
        return {"result": result}

    # ---- HTTP
    def __enter__(self) -> TFServingDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as TF Serving's HTTP server
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _send(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _model(self, match: re.Match) -> tuple[int | None, str | None]:
                if match.group(1) != double.model_name:
                    raise ServingFailure(404, f"Could not find any versions of model {match.group(1)}")
                return (int(match.group(2)) if match.group(2) else None), match.group(3)

            def do_GET(self) -> None:
                double.requests.append(f"GET {self.path}")
                match = _STATUS.match(self.path)
                if not match:
                    return self._send(404, {"error": f"Malformed request: GET {self.path}"})
                try:
                    version, label = self._model(match)
                    return self._send(200, {"model_version_status": double.status(version, label)})
                except ServingFailure as exc:
                    return self._send(exc.code, {"error": str(exc)})

            def do_POST(self) -> None:
                double.requests.append(f"POST {self.path}")
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))  # all of it: keep-alive
                match = _CALL.match(self.path)
                if not match:
                    return self._send(404, {"error": f"Malformed request: POST {self.path}"})
                try:
                    body = json.loads(raw)
                    if not isinstance(body, dict):
                        raise ServingFailure(400, "JSON Value: not an object")
                    version, label = self._model(match)
                    call = {
                        "predict": double.predict,
                        "classify": double.classify,
                        "regress": double.regress,
                    }[match.group(4)]
                    return self._send(200, call(version, body, label))
                except ServingFailure as exc:
                    return self._send(exc.code, {"error": str(exc)})
                except Exception as exc:  # noqa: BLE001 -- a bad request, as TF Serving says
                    return self._send(400, {"error": f"{type(exc).__name__}: {exc}"})

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class Server(ThreadingHTTPServer):
    """A threaded HTTP server with TF Serving's kind of listen backlog (the stdlib's is 5: more
    concurrent clients than that would wait for TCP's retransmit, a second, not for the model)."""

    request_queue_size = 1024
    daemon_threads = True


def _is_named(value) -> bool:
    """An object of named inputs (`{"b64": ...}` is one binary value)."""
    return isinstance(value, dict) and set(value) != {"b64"}


def _decode(value):
    """JSON tensor content with `{"b64": ...}` as bytes."""
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    return value


def _json(value):
    """Tensor content as JSON (bytes as text)."""
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value.decode() if isinstance(value, bytes) else value


def _example(row: dict):
    """A tf.train.Example from one JSON object (TF Serving's MakeExampleFromJsonObject): a string
    is bytes, a number with a decimal point a float, an integer an int64; lists are repeated."""
    import tensorflow as tf

    example = tf.train.Example()
    for name, content in row.items():
        feature = example.features.feature[name]
        for value in content if isinstance(content, list) else [content]:
            if isinstance(value, dict) and set(value) == {"b64"}:
                feature.bytes_list.value.append(base64.b64decode(value["b64"]))
            elif isinstance(value, str):
                feature.bytes_list.value.append(value.encode())
            elif isinstance(value, float):
                feature.float_list.value.append(value)
            elif isinstance(value, bool | int):
                feature.int64_list.value.append(int(value))
            else:
                raise ServingFailure(400, f"Feature: {name} has element with unexpected JSON type")
    return example
