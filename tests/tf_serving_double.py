"""A TEST DOUBLE of TF Serving's REST API — not TF Serving (no TF Serving binary exists here).

It mimics the two endpoints `push --serving-url` / `serving-status --serving-url` use:
- `GET  /v1/models/<name>`: model_version_status for the served versions. Like TF Serving
  with the `latest {num_versions: 1}` policy it re-scans the model base path's integer folders
  on every request and serves the highest; a version listed in `fail_versions` (or whose
  SavedModel does not load) is reported `END` with an error, and the previous one stays
  AVAILABLE, as TF Serving's availability-preserving policy does.
- `POST /v1/models/<name>[/versions/<v>]:predict`: row format (`instances`), answered for
  real by loading the version folder with `tf.saved_model.load` and calling the signature.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_PREDICT = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+))?:predict$")
_STATUS = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+))?$")


class TFServingDouble:
    """`with TFServingDouble(base_path, name) as double: double.url` -> http://127.0.0.1:PORT."""

    def __init__(self, base_path: Path, model_name: str, fail_versions: tuple[int, ...] = ()):
        self.base_path, self.model_name = Path(base_path), model_name
        self.fail_versions = set(fail_versions)
        self._loaded: dict[int, object] = {}
        self._errors: dict[int, str] = {}
        self._lock = threading.Lock()
        self.requests: list[str] = []

    # ---- model management (what TF Serving's file system source + manager would do)
    def _load(self, version: int):
        with self._lock:
            if version in self._loaded or version in self._errors:
                return self._loaded.get(version)
            if version in self.fail_versions:
                self._errors[version] = "test double: configured to fail loading this version"
                return None
            try:
                import tensorflow as tf

                self._loaded[version] = tf.saved_model.load(str(self.base_path / str(version)))
            except Exception as exc:  # noqa: BLE001 -- reported like TF Serving would
                self._errors[version] = f"{type(exc).__name__}: {exc}"
            return self._loaded.get(version)

    def _versions(self) -> list[int]:
        if not self.base_path.is_dir():
            return []
        return sorted(int(p.name) for p in self.base_path.iterdir() if p.is_dir() and p.name.isdigit())

    def status(self) -> list[dict]:
        out = []
        for version in reversed(self._versions()):
            if self._load(version) is None:
                out.append(
                    {
                        "version": str(version),
                        "state": "END",
                        "status": {"error_code": "UNKNOWN", "error_message": self._errors[version]},
                    }
                )
                continue
            out.append(
                {
                    "version": str(version),
                    "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""},
                }
            )
            break  # latest policy: one loaded version
        return out

    def available(self) -> set[int]:
        return {int(s["version"]) for s in self.status() if s["state"] == "AVAILABLE"}

    def predict(self, version: int | None, body: dict) -> dict:
        import tensorflow as tf

        available = self.available()
        version = version if version is not None else max(available, default=None)
        if version not in available:
            raise LookupError(f"Servable not found for request: Specific({self.model_name}, {version})")
        signature = self._loaded[version].signatures[body.get("signature_name", "serving_default")]
        specs = signature.structured_input_signature[1]
        columns = {name: [row[name] for row in body["instances"]] for name in specs}
        outputs = signature(
            **{name: tf.constant(values, dtype=specs[name].dtype) for name, values in columns.items()}
        )
        (values,) = outputs.values()
        return {"predictions": values.numpy().tolist()}

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

            def do_GET(self) -> None:
                double.requests.append(f"GET {self.path}")
                match = _STATUS.match(self.path)
                if not match or match.group(1) != double.model_name:
                    return self._send(404, {"error": f"Could not find any versions of model {self.path}"})
                return self._send(200, {"model_version_status": double.status()})

            def do_POST(self) -> None:
                double.requests.append(f"POST {self.path}")
                match = _PREDICT.match(self.path)
                if not match or match.group(1) != double.model_name:
                    return self._send(404, {"error": f"unknown path {self.path}"})
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                version = int(match.group(2)) if match.group(2) else None
                try:
                    return self._send(200, double.predict(version, body))
                except LookupError as exc:
                    return self._send(404, {"error": str(exc)})
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
