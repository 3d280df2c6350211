"""tests/tf_serving_double_server.py: the TF Serving test double as the server process the
compose stack runs as `tensorflow_model_server` (its config file handling and routing; the
served versions and :predict are the double's own, tested with push/serving-status)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[1] / "tf_serving_double_server.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_for(probe, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except (urllib.error.URLError, ConnectionError):
            value = None
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


@pytest.fixture
def server(tmp_path):
    config, port = tmp_path / "models.config", free_port()
    config.write_text("model_config_list {\n}\n")
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--port=8500", f"--rest_api_port={port}",
         f"--model_config_file={config}", "--model_config_file_poll_wait_seconds=0.2"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: get(f"{url}/v1/models/none")[0]), proc.stderr
        yield url, config, tmp_path
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_models_come_and_go_with_models_config(server):
    url, config, tmp = server
    status, body = get(f"{url}/v1/models/flights")
    assert status == 404 and "flights" in body["error"]
    (tmp / "flights").mkdir()
    config.write_text(
        'model_config_list {\n  config {\n    name: "flights"\n'
        f'    base_path: "{tmp / "flights"}"\n    model_platform: "tensorflow"\n  }}\n}}\n'
    )
    assert wait_for(lambda: get(f"{url}/v1/models/flights") == (200, {"model_version_status": []}))
    assert get(f"{url}/v1/models/other")[0] == 404
    config.write_text("model_config_list {\n}\n")
    assert wait_for(lambda: get(f"{url}/v1/models/flights")[0] == 404)


def test_reads_the_config_that_push_writes(tmp_path):
    sys.path.insert(0, str(SERVER.parent))
    from tf_serving_double_server import read_model_config

    from ml.serving.models_config import ModelEntry, render

    entries = {"flights": "/srv/serving/flights", "taxi": "/srv/serving/taxi"}
    path = tmp_path / "models.config"
    labelled = {
        name: ModelEntry(name, base, versions=(1, 2), labels={"stable": 1, "canary": 2})
        for name, base in entries.items()
    }
    path.write_text(render(labelled))  # specific versions and version labels, as push writes it
    assert read_model_config(path) == entries
    assert read_model_config(tmp_path / "missing.config") == {}
