"""The prediction-logging service: TF Serving's REST API, same URLs, every prediction logged.

Open-source TF Serving cannot log requests (tensorflow/serving#408), so this ASGI app sits in
front of it. The contract (docs/concepts/live-model.md), request by request:
- every `:predict`, `:classify` and `:regress` that TF Serving answers 200 is logged, one
  `PredictionLog` per instance (ml/serving/prediction_log.py), durably (ml/serving/log_store.py)
  before the client gets the answer; if it cannot be logged, or the answer does not fit the
  request, the client gets 503 and nothing of it is logged: never a 500 after TF Serving's 200,
  never a 200 unlogged;
- a body that is not a JSON object, or not one TF Serving accepts, gets TF Serving's 400
  (`{"error": ...}`) and is never forwarded; a body over `max_request_bytes` gets 413;
- a model this service does not log gets 404, unless it is listed in `pass_through` (forwarded,
  not logged, counted); status, metadata and other URLs are forwarded unchanged;
- the version that answered is exact: a call on a label (or on no version) is forwarded to the
  version TF Serving's status resolves it to (cached LABEL_TTL_S; a 404 because that version was
  just unloaded re-resolves once), so the logged version is the one that ran;
- a prediction's span is its event's time (`event_time`/`event_times` in the body, the
  `X-Event-Time` header, or the request id's `monitoring.event_time.id_columns`), else the time
  it was answered, which every record keeps in `timestamp_secs`;
- request ids: `request_ids` (one per instance) or one id (`X-Request-Id` or `request_id`; several
  instances get `<id>/<index>`), else generated. The answer's `X-Request-Id` header is that one id
  (or the generated batch id): small, whatever the batch.
Encoding and writing run off the event loop; TensorFlow's protos are imported before the
service listens. Spans are closed (compacted, `_SUCCESS`) `close_after_s` after they ended; a
closer that fails on a span logs it and carries on. `GET /logger/status`: the counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import queue
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ml.config import PipelineConfig
from ml.event_time import event_time_of_id
from ml.model.signatures import DEFAULT_SIGNATURE
from ml.roots import Roots
from ml.serving import log_store, prediction_log
from ml.serving.prediction_log import Prediction
from ml.serving.rest_api import (
    Answered,
    AnswerMismatch,
    BadRequest,
    Call,
    inference_call,
    instance_ids,
    model_of,
    pair,
    parse_request,
)
from ml.serving.rest_api import (
    Request as ParsedRequest,
)
from ml.spans import SpanPaths, shift_span, span_of, span_of_landing_name, span_start

log = logging.getLogger(__name__)

HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}
LABEL_TTL_S = 1.0
MAX_REQUEST_BYTES = 32 * 1024 * 1024
STATUS_PATH = "/logger/status"
INLINE_MAX = 8  # a group of at most this many predictions, without fsync, is written on the loop


class Upstream:
    """TF Serving's answer: status, body, headers to pass on."""

    def __init__(self, status: int, content: bytes, headers: dict[str, str]) -> None:
        self.status, self.content, self.headers = status, content, headers


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """An answer in TF Serving's error shape."""
    return JSONResponse({"error": message}, status, dict(headers or {}))


class VersionResolver:
    """Label (or no label: the newest AVAILABLE version) -> the version TF Serving resolves it
    to, cached LABEL_TTL_S. None when TF Serving does not know it."""

    def __init__(self, client: aiohttp.ClientSession) -> None:
        self.client = client
        self.cache: dict[tuple[str, str | None], tuple[float, int | None]] = {}

    async def version(self, model: str, label: str | None, *, fresh: bool = False) -> int | None:
        key = (model, label)
        hit = self.cache.get(key)
        if hit and not fresh and time.monotonic() - hit[0] < LABEL_TTL_S:
            return hit[1]
        path = f"/v1/models/{model}" + (f"/labels/{label}" if label else "")
        try:
            async with self.client.get(path) as response:
                status = (await response.json(content_type=None)).get("model_version_status", [])
        except (TimeoutError, aiohttp.ClientError, json.JSONDecodeError, AttributeError):
            status = []
        available = [int(s["version"]) for s in status if s.get("state") == "AVAILABLE"]
        version = max(available) if available else None
        self.cache[key] = (time.monotonic(), version)
        return version


@dataclass(frozen=True)
class ModelLog:
    """Where one pipeline's model is logged."""

    cfg: PipelineConfig
    paths: SpanPaths
    folders: dict[str, Path] = field(default_factory=dict)  # span -> its folder, worked out once

    @property
    def root(self) -> Path:
        return self.paths.predictions_root

    def folder(self, span: str) -> Path:
        found = self.folders.get(span)
        if found is None:
            found = self.folders[span] = self.paths.predictions_dir(span)
        return found


Pending = tuple[dict[Path, list[Prediction]], "asyncio.Future[None]"]


class LogWriter:
    """Writes the log for the event loop, a group at a time (group commit). A request hands over
    its predictions and waits; every request that hands some over in the same turn of the event
    loop joins one group, written as one file per span (one rename, one fsync for all of them,
    all or nothing), then each is answered. A small group without fsync (INLINE_MAX predictions,
    ~0.1 ms) is written right there on the loop; a larger one, or any with fsync, on the writer
    thread, so the event loop never waits on a big batch or a disk sync. One request's encoding
    failure fails only that request."""

    def __init__(self, fsync: bool, count: Callable[..., None]) -> None:
        self.fsync, self.count = fsync, count
        self.pending: list[Pending] = []
        self.queue: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, list[Pending]] | None] = (
            queue.SimpleQueue()
        )
        self.thread = threading.Thread(target=self._run, name="prediction-log-writer", daemon=True)
        self.thread.start()

    async def write(self, by_folder: dict[Path, list[Prediction]]) -> None:
        """Return once these predictions are in the log (raise if they could not be written)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        if not self.pending:
            loop.call_soon(self._flush, loop)
        self.pending.append((by_folder, done))
        await done

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        group, self.pending = self.pending, []
        size = sum(len(ps) for by_folder, _ in group for ps in by_folder.values())
        if self.fsync or size > INLINE_MAX:
            self.queue.put((loop, group))
        else:
            for done, error in self._commit(group):
                _settle(done, error)

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=60)

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            loop, group = item
            for done, error in self._commit(group):
                loop.call_soon_threadsafe(_settle, done, error)

    def _commit(self, group: list[Pending]) -> list[tuple[asyncio.Future[None], BaseException | None]]:
        batches: dict[Path, list[bytes]] = defaultdict(list)
        outcome: dict[int, BaseException | None] = {}
        for n, (by_folder, _) in enumerate(group):
            try:
                encoded = {
                    folder: [prediction_log.to_record(p) for p in ps] for folder, ps in by_folder.items()
                }
            except Exception as exc:  # noqa: BLE001 -- this request fails, not the group
                outcome[n] = exc
                continue
            for folder, records in encoded.items():
                batches[folder] += records
        try:
            written = log_store.append_batches(batches, fsync=self.fsync) if batches else {}
            failure: BaseException | None = None
        except Exception as exc:  # noqa: BLE001 -- every request of the group gets 503
            failure, written = exc, {}
        self.count("batches", len(written))
        self.count("late_batches", sum(f.name.startswith(log_store.LATE) for f in written.values()))
        if failure is None:
            self.count("predictions_logged", sum(len(r) for r in batches.values()))
        return [(done, outcome.get(n, failure)) for n, (_, done) in enumerate(group)]


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.cancelled():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


def _answer_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """TF Serving's answer headers, less those this server sets itself (uvicorn: server, date)."""
    own = HOP_HEADERS | {"content-encoding", "server", "date"}
    return {k: v for k, v in headers.items() if k.lower() not in own}


def predictions_of(
    model_log: ModelLog,
    parsed: ParsedRequest,
    answered: list[Answered],
    ids: list[str],
    version: int,
    now: dt.datetime,
) -> dict[str, list[Prediction]]:
    """The request's predictions by the span of their event (else of `now`)."""
    call, cfg = parsed.call, model_log.cfg
    signature = parsed.signature or DEFAULT_SIGNATURE
    by_span: dict[str, list[Prediction]] = defaultdict(list)
    for rid, one in zip(ids, answered, strict=True):
        given = parsed.event_times[one.index if one.index is not None else 0] if parsed.event_times else None
        when = given or event_time_of_id(cfg, rid) or now
        by_span[span_of(cfg, when)].append(
            Prediction(
                request_id=rid,
                time=int(now.timestamp()),
                model=call.model,
                version=version,
                label=call.label or "",
                signature=signature,
                outputs=one.outputs,
                inputs=one.inputs,
                method=call.method,
                context=parsed.context,
            )
        )
    return by_span


def create_app(
    pipelines: Sequence[PipelineConfig],
    roots: Roots,
    upstream_url: str,
    *,
    close_after_s: float = 300.0,
    fsync: bool = False,
    max_request_bytes: int = MAX_REQUEST_BYTES,
    pass_through: Sequence[str] = (),
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> Starlette:
    """The service for the models of `pipelines`, forwarding to TF Serving's REST API at `upstream_url`."""
    logs = {cfg.model_name: ModelLog(cfg, SpanPaths(cfg, roots)) for cfg in pipelines}
    counters: Counter[str] = Counter()
    counting = threading.Lock()  # writes count from worker threads
    state: dict = {}

    def count(key: str, n: int = 1) -> None:
        with counting:
            counters[key] += n

    def close_ended_spans() -> list[str]:
        """Compact and close every span that ended more than `close_after_s` ago; one that fails
        is logged and left for the next round."""
        closed, now = [], clock()
        for model_log in logs.values():
            cfg, root = model_log.cfg, model_log.root
            for folder in sorted(root.glob("span=*")) if root.is_dir() else []:
                span = span_of_landing_name(cfg, folder.name)
                if span is None or log_store.is_complete(folder):
                    continue
                ended = span_start(cfg, shift_span(cfg, span, 1))
                if (now - ended).total_seconds() < close_after_s:
                    continue
                try:
                    records = log_store.close_span(folder)
                except Exception:  # noqa: BLE001 -- the closer must survive any one span
                    count("close_errors")
                    log.exception("could not close span %s of %s (retried next round)", span, cfg.name)
                    continue
                log.info("closed span %s of %s: %d predictions", span, cfg.name, records)
                closed.append(span)
        return closed

    async def closer() -> None:
        while True:
            await asyncio.sleep(max(1.0, min(close_after_s, 60.0)))
            try:
                await run_in_threadpool(close_ended_spans)
            except Exception:  # noqa: BLE001 -- e.g. the log root unreadable for a while
                count("close_errors")
                log.exception("the span closer failed this round; it runs again")

    async def upstream(method: str, path: str, body: bytes, headers: dict, params=None) -> Upstream:
        session: aiohttp.ClientSession = state["client"]
        async with session.request(method, path, params=params, data=body, headers=headers) as response:
            return Upstream(response.status, await response.read(), _answer_headers(response.headers))

    async def read_body(request: Request) -> bytes | None:
        """The body, or None when it is over `max_request_bytes` (read no further)."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_request_bytes:
            return None
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_request_bytes:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def infer(request: Request, call: Call, model_log: ModelLog, headers: dict) -> Response:
        body = await read_body(request)
        if body is None:
            count("too_large")
            return error(
                413, f"request body over the limit of {max_request_bytes} bytes (--max-request-bytes)"
            )
        try:
            parsed = parse_request(
                call, body, request.headers.get("x-request-id"), request.headers.get("x-event-time")
            )
        except BadRequest as exc:
            count("bad_requests")
            return error(400, str(exc))
        batch_id = parsed.request_id or uuid.uuid4().hex
        ids_header = {"X-Request-Id": batch_id}
        resolver: VersionResolver = state["resolver"]
        version = call.version if call.version is not None else await resolver.version(call.model, call.label)
        path = call.pinned(version) if version is not None else request.url.path
        try:
            answer = await upstream("POST", path, parsed.body, headers)
            if answer.status == 404 and call.version is None and version is not None:
                version = await resolver.version(call.model, call.label, fresh=True)  # moved meanwhile
                path = call.pinned(version) if version is not None else request.url.path
                answer = await upstream("POST", path, parsed.body, headers)
        except (TimeoutError, aiohttp.ClientError) as exc:
            count("upstream_failed")
            return error(502, f"TF Serving did not answer ({type(exc).__name__}: {exc})", ids_header)
        if answer.status != 200:
            count(f"upstream_{answer.status}")
            return Response(answer.content, answer.status, answer.headers | ids_header)
        try:
            if version is None:
                raise AnswerMismatch(
                    f"TF Serving no longer reports which version serves {call.label or 'the model'}"
                )
            answered = pair(parsed, answer.content)
            ids = instance_ids(parsed, answered, batch_id)
            by_span = predictions_of(model_log, parsed, answered, ids, version, clock())
            by_folder = {model_log.folder(s): p for s, p in by_span.items()}
            await state["writer"].write(by_folder)
        except Exception as exc:  # noqa: BLE001 -- whatever it is, the client must not get 200 unlogged
            count("not_logged")
            log.exception("a %s answered by TF Serving could not be logged", call.method)
            return error(
                503, f"prediction not logged ({type(exc).__name__}: {exc}); not answered", ids_header
            )
        return Response(answer.content, 200, answer.headers | ids_header)

    async def forward(request: Request) -> Response:
        path = request.url.path
        if path == STATUS_PATH and request.method == "GET":
            return JSONResponse({"models": sorted(logs), "pass_through": sorted(pass_through), **counters})
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        for own in ("x-request-id", "x-event-time"):  # this service's headers, not TF Serving's
            headers.pop(own, None)
        model = model_of(path)
        call = inference_call(request.method, path)
        if model is not None and model not in logs:
            if model not in pass_through:
                count("other_models")
                return error(
                    404,
                    f"model {model!r} is not logged here (this service logs {', '.join(sorted(logs))}); "
                    "call it through its own pipeline's logger, or list it in --pass-through",
                )
            count("passed_through")
        elif call is not None:
            return await infer(request, call, logs[call.model], headers)
        body = await request.body()
        answer = await upstream(
            request.method, path, body, headers, params=list(request.query_params.items())
        )
        return Response(answer.content, answer.status, answer.headers)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(prediction_log.warm)  # TensorFlow's protos: before the first request
        timeout = aiohttp.ClientTimeout(total=30.0)
        state["client"] = aiohttp.ClientSession(base_url=upstream_url, timeout=timeout)
        state["resolver"] = VersionResolver(state["client"])
        state["writer"] = LogWriter(fsync, count)
        task = asyncio.get_running_loop().create_task(closer())
        try:
            yield
        finally:
            task.cancel()
            await run_in_threadpool(state["writer"].stop)
            await state["client"].close()

    app = Starlette(
        routes=[Route("/{path:path}", forward, methods=["GET", "POST", "PUT", "DELETE"])], lifespan=lifespan
    )
    app.state.close_ended_spans = close_ended_spans
    app.state.counters = counters
    return app


def serve(app: Starlette, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
