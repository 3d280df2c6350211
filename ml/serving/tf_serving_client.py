"""Minimal TF Serving REST client (urllib; tenacity for the waits): model status, predict, wait
for a version/label.

A model is addressed as TF Serving's REST API does: `/v1/models/<m>`, `/v1/models/<m>/versions/<v>`
or `/v1/models/<m>/labels/<l>` (status with GET, `:predict` with POST).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable

import tenacity

from ml.errors import ServingError

REQUEST_TIMEOUT_S = 30.0


class RequestFailed(Exception):
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
        raise RequestFailed(f"{url} answered HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise RequestFailed(f"{url}: {exc}") from None


def model_path(base_url: str, model: str, version: int | None = None, label: str | None = None) -> str:
    path = f"{base_url.rstrip('/')}/v1/models/{model}"
    if version is not None:
        return f"{path}/versions/{version}"
    return f"{path}/labels/{label}" if label else path


def model_status(
    base_url: str, model: str, *, version: int | None = None, label: str | None = None
) -> list[dict]:
    """`GET /v1/models/<model>[/versions/<v>|/labels/<l>]` -> `[{version:int, state, error_code,
    error_message}]`."""
    body = _call(model_path(base_url, model, version, label))
    return [
        {
            "version": int(s["version"]),
            "state": s.get("state"),
            "error_code": s.get("status", {}).get("error_code", "OK"),
            "error_message": s.get("status", {}).get("error_message", ""),
        }
        for s in body.get("model_version_status", [])
    ]


def predict(
    base_url: str,
    model: str,
    instances: list[dict],
    signature: str,
    *,
    version: int | None = None,
    label: str | None = None,
) -> list:
    """`POST /v1/models/<model>[/versions/<v>|/labels/<l>]:predict` (row format) -> predictions."""
    url = f"{model_path(base_url, model, version, label)}:predict"
    body = _call(url, {"signature_name": signature, "instances": instances})
    if "predictions" not in body:
        raise RequestFailed(f"{url} answered without predictions: {str(body)[:500]}")
    return body["predictions"]


class _NotYet(Exception):
    """TF Serving answered, but not (yet) what is waited for; the text is its last answer."""


def _poll(
    probe: Callable[[], dict], timeout_s: float, poll_s: float, *, waits_for: str, url: str, rule: str
) -> dict:
    """`probe()` every `poll_s` until it returns (tenacity does the waiting; a `_NotYet` or
    `RequestFailed` means try again, any other error ends the wait at once). After `timeout_s`:
    PipelineError "TF Serving did not <waits_for> within ..." quoting the last answer."""
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_delay(timeout_s),
        wait=tenacity.wait_fixed(poll_s),
        retry=tenacity.retry_if_exception_type((_NotYet, RequestFailed)),
        reraise=True,
    )
    try:
        return retrying(probe)
    except (_NotYet, RequestFailed) as exc:
        raise ServingError(
            f"TF Serving did not {waits_for} within {timeout_s:g}s (last: {exc})", file=url, rule=rule
        ) from None


def wait_for_label(
    base_url: str, model: str, label: str, version: int, timeout_s: float, poll_s: float = 1.0
) -> dict:
    """Poll `GET /v1/models/<model>/labels/<label>` until it resolves to `version`, AVAILABLE
    (TF Serving applies a models.config change on its next config poll)."""

    def resolved() -> dict:
        states = model_status(base_url, model, label=label)
        if [(s["version"], s["state"]) for s in states] != [(version, "AVAILABLE")]:
            raise _NotYet(states)
        return states[0]

    waits_for = f"move label {label!r} of {model} to version {version}"
    return _poll(resolved, timeout_s, poll_s, waits_for=waits_for, url=base_url, rule="serving-label")


def wait_until_available(
    base_url: str, model: str, version: int, timeout_s: float, poll_s: float = 1.0
) -> dict:
    """Poll until `version` is AVAILABLE; raises PipelineError on a load error or timeout."""

    def available() -> dict:
        states = {s["version"]: s for s in model_status(base_url, model)}
        state = states.get(version)
        if state and state["state"] == "AVAILABLE":
            return state
        if state and state["error_code"] not in ("OK", "", None):
            raise ServingError(
                f"TF Serving failed to load {model} version {version}: "
                f"{state['error_code']} {state['error_message']}",
                file=base_url,
                rule="serving-load",
            )
        raise _NotYet(state or f"version {version} not reported (reported: {sorted(states)})")

    waits_for = f"report {model} version {version} AVAILABLE"
    return _poll(available, timeout_s, poll_s, waits_for=waits_for, url=base_url, rule="serving-timeout")
