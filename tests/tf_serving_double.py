"""A TEST DOUBLE of TF Serving's REST API — not TF Serving (no TF Serving binary exists here).

It answers the endpoints push / rollback / serving-status and clients use, with TF Serving's rules:
- `GET  /v1/models/<m>[/versions/<v>|/labels/<l>]`: model_version_status.
- `POST /v1/models/<m>[/versions/<v>|/labels/<l>]:predict`: row format (`instances`); like
  TF Serving (json_tensor.cc) every instance must have exactly the signature's inputs.
- `POST /v1/models/<m>[/versions/<v>|/labels/<l>]:regress`: `examples` as JSON objects, turned
  into tf.Examples from the keys given (a feature left out is absent from the Example, as in
  TF Serving's MakeExampleFromJsonObject), fed to the signature's one `inputs` string tensor;
  answers `{"result": [value per example]}`.
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

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ml.errors import PipelineError
from ml.serving.models_config import parse  # TF Serving's own ModelServerConfig proto

_MODEL = r"^/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?"
_CALL = re.compile(_MODEL + r":(predict|regress)$")
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

    def predict(self, version: int | None, body: dict, label: str | None = None) -> dict:
        import tensorflow as tf

        signature = self._servable(version, label).signatures[body.get("signature_name", "serving_default")]
        specs = signature.structured_input_signature[1]
        for i, row in enumerate(body["instances"]):
            if set(row) != set(specs):
                raise ServingFailure(
                    400,
                    f"Failed to process element: {i} of 'instances' list. JSON object: {json.dumps(row)} "
                    f"must only have keys: {','.join(sorted(specs))}",
                )
        columns = {name: [row[name] for row in body["instances"]] for name in specs}
        outputs = signature(
            **{name: tf.constant(values, dtype=specs[name].dtype) for name, values in columns.items()}
        )
        (values,) = outputs.values()
        return {"predictions": values.numpy().tolist()}

    def regress(self, version: int | None, body: dict, label: str | None = None) -> dict:
        import tensorflow as tf

        signature = self._servable(version, label).signatures[body.get("signature_name", "serving_default")]
        specs = signature.structured_input_signature[1]
        if list(specs) != ["inputs"] or len(signature.structured_outputs) != 1:
            raise ServingFailure(400, "Expected one input Tensor `inputs` and one output Tensor `outputs`.")
        examples = [_example(row).SerializeToString() for row in body["examples"]]
        try:
            (values,) = signature(inputs=tf.constant(examples)).values()
        except tf.errors.InvalidArgumentError as exc:
            raise ServingFailure(400, str(exc.message)) from None
        return {"result": values.numpy().reshape(-1).tolist()}

    # ---- HTTP
    def __enter__(self) -> TFServingDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
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
                match = _CALL.match(self.path)
                if not match:
                    return self._send(404, {"error": f"Malformed request: POST {self.path}"})
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                try:
                    version, label = self._model(match)
                    call = double.predict if match.group(4) == "predict" else double.regress
                    return self._send(200, call(version, body, label))
                except ServingFailure as exc:
                    return self._send(exc.code, {"error": str(exc)})
                except Exception as exc:  # noqa: BLE001 -- a bad request, as TF Serving says
                    return self._send(400, {"error": f"{type(exc).__name__}: {exc}"})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
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


def _example(row: dict):
    """A tf.train.Example from one JSON object (TF Serving's MakeExampleFromJsonObject): a string
    is bytes, a number with a decimal point a float, an integer an int64; lists are repeated."""
    import tensorflow as tf

    example = tf.train.Example()
    for name, content in row.items():
        feature = example.features.feature[name]
        for value in content if isinstance(content, list) else [content]:
            if isinstance(value, str):
                feature.bytes_list.value.append(value.encode())
            elif isinstance(value, float):
                feature.float_list.value.append(value)
            elif isinstance(value, bool | int):
                feature.int64_list.value.append(int(value))
            else:
                raise ServingFailure(400, f"Feature: {name} has element with unexpected JSON type")
    return example
