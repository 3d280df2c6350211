"""The prediction-logging service: TF Serving's REST API, same URLs, every prediction logged.

Open-source TF Serving cannot log requests (tensorflow/serving#408), so this ASGI app sits in
front of it: every request is forwarded unchanged (status, metadata, `:regress`, ...), and a
`:predict` in row format (`instances`) or columnar format (`inputs`) that TF Serving answered
with 200 is logged before the client gets its answer: one `PredictionLog` per instance
(ml.monitoring.prediction_log) into `<data_root>/<pipeline>_predictions/span=<id>/`, the span
being the one the request was answered in. One file per request batch, written to a temp name
and renamed: once a client has its answer, the predictions survive a kill of this service (no
fsync: a killed process loses nothing the kernel has; `--fsync` also survives a host crash at a
cost of milliseconds). If logging fails the client gets 503, never an unlogged answer.

Request ids: the `X-Request-Id` header, or `request_id` / `request_ids` (one per instance) in the
body (removed before forwarding); else generated. Returned in the `X-Request-Id` header
(comma-separated, one per instance). With one id for several instances, instance i gets
`<id>/<i>`. The version that answered: the URL's `/versions/<v>`, or the version the URL's
`/labels/<l>` (or the model's newest AVAILABLE version) resolves to in TF Serving's status,
looked up at most once a second: a label moved less than a second ago may be logged with the
version it left. A span's batch files are compacted and closed (`_SUCCESS`) once the span has
ended and `close_after_s` passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, NamedTuple

import aiohttp
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ml.config import PipelineConfig
from ml.model.signatures import DEFAULT_SIGNATURE, OUTPUT_KEY
from ml.monitoring.prediction_log import Prediction, append_batch, close_span, is_complete, to_record
from ml.roots import Roots
from ml.spans import SpanPaths, shift_span, span_of, span_of_landing_name, span_start

PREDICT = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:predict$")
HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}
LABEL_TTL_S = 1.0


class Upstream(NamedTuple):
    """TF Serving's answer: status, body, headers to pass on."""

    status: int
    content: bytes
    headers: dict[str, str]


def instances_of(body: dict) -> list[dict]:
    """Row format `instances: [{...}]`, or columnar `inputs: {name: [values]}` as rows."""
    if isinstance(body.get("instances"), list):
        return [row if isinstance(row, dict) else {"input": row} for row in body["instances"]]
    inputs = body.get("inputs")
    if isinstance(inputs, dict):
        length = max((len(v) for v in inputs.values() if isinstance(v, list)), default=0)
        return [{k: (v[i] if isinstance(v, list) else v) for k, v in inputs.items()} for i in range(length)]
    return []


def score_of(prediction: Any) -> float:
    """One instance's answer as a float: a number, `[p]`, or `{"probabilities": [p]}`."""
    while isinstance(prediction, dict):
        prediction = prediction.get(OUTPUT_KEY, next(iter(prediction.values()), None))
    while isinstance(prediction, list):
        prediction = prediction[0] if prediction else None
    return float(prediction) if prediction is not None else float("nan")


def request_ids(header: str | None, body: dict, count: int) -> list[str]:
    ids = body.pop("request_ids", None)
    if isinstance(ids, list) and len(ids) == count:
        return [str(i) for i in ids]
    one = header or body.pop("request_id", None) or uuid.uuid4().hex
    body.pop("request_id", None)
    return [str(one)] if count == 1 else [f"{one}/{i}" for i in range(count)]


class VersionResolver:
    """Label (or model) -> the version TF Serving resolves it to, cached LABEL_TTL_S."""

    def __init__(self, client: aiohttp.ClientSession) -> None:
        self.client = client
        self.cache: dict[tuple[str, str | None], tuple[float, int]] = {}

    async def version(self, model: str, label: str | None) -> int:
        key = (model, label)
        hit = self.cache.get(key)
        if hit and time.monotonic() - hit[0] < LABEL_TTL_S:
            return hit[1]
        path = f"/v1/models/{model}" + (f"/labels/{label}" if label else "")
        async with self.client.get(path) as response:
            status = (await response.json(content_type=None)).get("model_version_status", [])
        available = [int(s["version"]) for s in status if s.get("state") == "AVAILABLE"]
        version = max(available) if available else -1
        self.cache[key] = (time.monotonic(), version)
        return version


def create_app(
    cfg: PipelineConfig,
    roots: Roots,
    upstream_url: str,
    *,
    close_after_s: float = 300.0,
    fsync: bool = False,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> Starlette:
    """The service for one pipeline's model, forwarding to TF Serving's REST API at `upstream_url`."""
    paths = SpanPaths(cfg, roots)
    state: dict[str, Any] = {}

    def log(predictions: list[Prediction], when: dt.datetime) -> None:
        folder = paths.predictions_dir(span_of(cfg, when))
        append_batch(folder, [to_record(p) for p in predictions], fsync=fsync)

    def close_ended_spans() -> list[str]:
        """Compact and close every span that ended more than `close_after_s` ago."""
        root = roots.data / cfg.predictions_folder
        closed = []
        now = clock()
        for folder in sorted(root.glob("span=*")) if root.is_dir() else []:
            span = span_of_landing_name(cfg, folder.name)
            if span is None or is_complete(folder):
                continue
            ended = span_start(cfg, shift_span(cfg, span, 1))
            if (now - ended).total_seconds() >= close_after_s:
                close_span(folder)
                closed.append(span)
        return closed

    async def closer() -> None:
        while True:
            await asyncio.sleep(max(1.0, min(close_after_s, 60.0)))
            await run_in_threadpool(close_ended_spans)

    async def upstream(method: str, path: str, body: bytes, headers: dict, params=None) -> Upstream:
        session: aiohttp.ClientSession = state["client"]
        async with session.request(method, path, params=params, data=body, headers=headers) as response:
            return Upstream(response.status, await response.read(), _answer_headers(response.headers))

    async def forward(request: Request) -> Response:
        path = request.url.path
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        body = await request.body()
        match = PREDICT.match(path) if request.method == "POST" else None
        if match is None:
            answer = await upstream(
                request.method, path, body, headers, params=list(request.query_params.items())
            )
            return Response(answer.content, answer.status, answer.headers)
        payload = json.loads(body or b"{}")
        rows = instances_of(payload)
        stripped = "request_id" in payload or "request_ids" in payload
        ids = request_ids(request.headers.get("x-request-id"), payload, len(rows))
        headers.pop("x-request-id", None)
        answer = await upstream("POST", path, json.dumps(payload).encode() if stripped else body, headers)
        answer_headers = answer.headers | {"X-Request-Id": ",".join(ids)}
        if answer.status != 200 or not rows:
            return Response(answer.content, answer.status, answer_headers)
        model, version, label = match.group(1), match.group(2), match.group(3)
        served = int(version) if version else await state["resolver"].version(model, label)
        result = json.loads(answer.content)
        answers = result.get("predictions") or result.get("outputs") or []
        when = clock()
        stamp = int(when.timestamp())
        signature = payload.get("signature_name") or DEFAULT_SIGNATURE
        predictions = [
            Prediction(rid, stamp, model, served, label or "", signature, score_of(answer), row)
            for rid, row, answer in zip(ids, rows, answers, strict=False)
        ]
        try:
            if fsync:  # milliseconds on a disk: off the event loop
                await run_in_threadpool(log, predictions, when)
            else:  # ~0.2 ms: a thread hop would cost as much
                log(predictions, when)
        except OSError as exc:
            return Response(
                json.dumps({"error": f"prediction not logged ({exc}); not answered"}),
                503,
                {"X-Request-Id": ",".join(ids)},
            )
        return Response(answer.content, 200, answer_headers)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=30.0)
        state["client"] = aiohttp.ClientSession(base_url=upstream_url, timeout=timeout)
        state["resolver"] = VersionResolver(state["client"])
        task = asyncio.get_running_loop().create_task(closer())
        try:
            yield
        finally:
            task.cancel()
            await state["client"].close()

    app = Starlette(
        routes=[Route("/{path:path}", forward, methods=["GET", "POST", "PUT", "DELETE"])], lifespan=lifespan
    )
    app.state.close_ended_spans = close_ended_spans
    return app


def _answer_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """TF Serving's answer headers, less those this server sets itself (uvicorn: server, date)."""
    own = HOP_HEADERS | {"content-encoding", "server", "date"}
    return {k: v for k, v in headers.items() if k.lower() not in own}


def serve(app: Starlette, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
