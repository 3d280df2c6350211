"""Minimal TF Serving REST client (urllib only): model status, predict, wait for a version."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from ml.errors import PipelineError

REQUEST_TIMEOUT_S = 30.0


class ServingError(Exception):
    """TF Serving did not answer as expected."""


def _call(url: str, body: dict | None = None, timeout_s: float = REQUEST_TIMEOUT_S) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method="GET" if data is None else "POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise ServingError(f"{url} answered HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ServingError(f"{url}: {exc}") from None


def model_status(base_url: str, model: str) -> list[dict]:
    """`GET /v1/models/<model>` -> `[{version:int, state, error_code, error_message}]`."""
    body = _call(f"{base_url.rstrip('/')}/v1/models/{model}")
    return [
        {
            "version": int(s["version"]),
            "state": s.get("state"),
            "error_code": s.get("status", {}).get("error_code", "OK"),
            "error_message": s.get("status", {}).get("error_message", ""),
        }
        for s in body.get("model_version_status", [])
    ]


def predict(base_url: str, model: str, version: int, instances: list[dict], signature: str) -> list:
    """`POST /v1/models/<model>/versions/<v>:predict` (row format) -> predictions."""
    url = f"{base_url.rstrip('/')}/v1/models/{model}/versions/{version}:predict"
    body = _call(url, {"signature_name": signature, "instances": instances})
    if "predictions" not in body:
        raise ServingError(f"{url} answered without predictions: {str(body)[:500]}")
    return body["predictions"]


def wait_until_available(
    base_url: str, model: str, version: int, timeout_s: float, poll_s: float = 1.0
) -> dict:
    """Poll until `version` is AVAILABLE; raises PipelineError on a load error or timeout."""
    deadline = time.monotonic() + timeout_s
    last: object = "no answer yet"
    while True:
        try:
            states = {s["version"]: s for s in model_status(base_url, model)}
            state = states.get(version)
            if state and state["state"] == "AVAILABLE":
                return state
            if state and state["error_code"] not in ("OK", "", None):
                raise PipelineError(
                    f"TF Serving failed to load {model} version {version}: "
                    f"{state['error_code']} {state['error_message']}",
                    file=base_url,
                    rule="serving-load",
                )
            last = state or f"version {version} not reported (reported: {sorted(states)})"
        except ServingError as exc:
            last = str(exc)
        if time.monotonic() >= deadline:
            raise PipelineError(
                f"TF Serving did not report {model} version {version} AVAILABLE "
                f"within {timeout_s:g}s (last: {last})",
                file=base_url,
                rule="serving-timeout",
            )
        time.sleep(poll_s)
