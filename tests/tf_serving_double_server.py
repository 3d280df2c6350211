"""The TF Serving TEST DOUBLE (tests/tf_serving_double.py) as a server process, for the
docker compose stack in CI (docker/local/tf-serving-double.Dockerfile, `make compose-e2e`).

Command line of `tensorflow_model_server` as docker-compose.yml passes it:
    --rest_api_port=8501 --model_config_file=<root>/models.config
    --model_config_file_poll_wait_seconds=30 [--port=8500: accepted, no gRPC is served]
Like TF Serving it reads `models.config` (ModelServerConfig text format: `config { name
base_path ... }` entries) at start and again every poll interval, and serves each listed model
under `/v1/models/<name>...` on 0.0.0.0:<rest_api_port>. Each model is one TFServingDouble (its
own loopback server, which reads the same models.config for its versions and labels and does
`:predict`/`:regress`); this front door routes a
request to the double of the model it names. A model not in the config gets TF Serving's 404.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tf_serving_double import Server, TFServingDouble  # noqa: E402

_ENTRY = re.compile(r'config\s*\{[^{}]*?name:\s*"([^"]+)"[^{}]*?base_path:\s*"([^"]+)"', re.S)
_MODEL = re.compile(r"^/v1/models/([^/:]+)")


def read_model_config(path: Path) -> dict[str, str]:
    """`{name: base_path}` of a ModelServerConfig text file (missing file: no models)."""
    try:
        return dict(_ENTRY.findall(path.read_text()))
    except FileNotFoundError:
        return {}


class ModelServer:
    """The models of one models.config, each served by a TFServingDouble."""

    def __init__(self, config_file: Path, allow_version_labels_for_unavailable_models: bool = False):
        self.config_file = config_file
        self.allow_unavailable_labels = allow_version_labels_for_unavailable_models
        self._doubles: dict[str, tuple[str, TFServingDouble]] = {}
        self._lock = threading.Lock()

    def reload(self) -> None:
        wanted = read_model_config(self.config_file)
        with self._lock:
            for name in list(self._doubles):
                base, double = self._doubles[name]
                if wanted.get(name) != base:
                    double.__exit__(None, None, None)
                    del self._doubles[name]
                    log(f"unloaded model {name} ({base})")
            for name, base in wanted.items():
                if name not in self._doubles:
                    double = TFServingDouble(
                        None,
                        name,
                        config_file=self.config_file,
                        allow_version_labels_for_unavailable_models=self.allow_unavailable_labels,
                    )
                    self._doubles[name] = (base, double.__enter__())
                    log(f"serving model {name} from {base}")

    def url(self, name: str) -> str | None:
        with self._lock:
            entry = self._doubles.get(name)
            return entry[1].url if entry else None

    def poll(self, seconds: float) -> None:
        while True:
            time.sleep(seconds)
            try:
                self.reload()
            except Exception as exc:  # noqa: BLE001 -- TF Serving also keeps the old config
                log(f"models.config not reloaded: {type(exc).__name__}: {exc}")


def log(message: str) -> None:
    print(f"tf-serving-double: {message}", file=sys.stderr, flush=True)


def handler(models: ModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as TF Serving's HTTP server
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK

        def log_message(self, format: str, *args) -> None:  # noqa: A002 -- stdlib signature
            log(format % args)

        def _reply(self, code: int, data: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _forward(self, body: bytes | None) -> None:
            match = _MODEL.match(self.path)
            url = models.url(match.group(1)) if match else None
            if url is None:
                name = match.group(1) if match else self.path
                error = {"error": f"Servable not found for request: Latest({name})"}
                return self._reply(404, json.dumps(error).encode())
            request = urllib.request.Request(url + self.path, data=body, method=self.command)
            request.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(request, timeout=600) as response:
                    return self._reply(response.status, response.read())
            except urllib.error.HTTPError as exc:
                return self._reply(exc.code, exc.read())

        def do_GET(self) -> None:
            self._forward(None)

        def do_POST(self) -> None:
            self._forward(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8500, help="gRPC port: accepted, not served")
    parser.add_argument("--rest_api_port", type=int, default=8501)
    parser.add_argument("--model_config_file", type=Path, required=True)
    parser.add_argument("--model_config_file_poll_wait_seconds", type=float, default=0)
    parser.add_argument(
        "--allow_version_labels_for_unavailable_models",
        type=lambda text: text.lower() in ("true", "1"),
        default=False,
        help="TF Serving's flag: a new label may point at a version still loading",
    )
    args = parser.parse_args(argv)
    models = ModelServer(args.model_config_file, args.allow_version_labels_for_unavailable_models)
    models.reload()
    if args.model_config_file_poll_wait_seconds > 0:
        threading.Thread(
            target=models.poll, args=(args.model_config_file_poll_wait_seconds,), daemon=True
        ).start()
    server = Server(("0.0.0.0", args.rest_api_port), handler(models))
    log(f"REST API on 0.0.0.0:{args.rest_api_port} (a test double, not TF Serving; no gRPC)")
    server.serve_forever()


if __name__ == "__main__":
    main()
