"""The floor under the prediction-logging service, for bench/monitor.py: the same server stack
(uvicorn + Starlette, aiohttp to the upstream) forwarding every request unchanged, logging
nothing. What a proxy in front of TF Serving costs on this machine before any logging.

    python bench/bare_proxy.py UPSTREAM_URL PORT

A helper, not a bench: no --smoke of its own; `bench/monitor.py --smoke` starts and loads it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

state: dict[str, aiohttp.ClientSession] = {}


async def forward(request: Request) -> Response:
    body = await request.body()
    headers = {"Content-Type": request.headers.get("content-type", "application/json")}
    async with state["client"].request(
        request.method, request.url.path, data=body, headers=headers
    ) as answer:
        return Response(await answer.read(), answer.status, {"Content-Type": answer.content_type})


@contextlib.asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    state["client"] = aiohttp.ClientSession(base_url=sys.argv[1])
    yield
    await state["client"].close()


if __name__ == "__main__":
    app = Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST"])], lifespan=lifespan)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
