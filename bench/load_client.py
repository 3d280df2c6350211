"""A load generator for bench/monitor.py: `--clients` concurrent clients (asyncio + aiohttp, one
process, as many connections) send `--requests` POSTs in all to URL, each body a line of
`--bodies` (JSON, one per line) in turn; prints one JSON line: each request's latency (ms), the
wall time and the count of answers that were not 200. A helper, not a bench: no --smoke of its
own; `bench/monitor.py --smoke` runs it."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import aiohttp


async def load(url: str, bodies: list[bytes], clients: int, total: int) -> dict:
    latencies: list[float] = []
    errors = 0
    numbers = iter(range(total))  # shared: each request is sent once, by whichever client is free
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=120)
    ) as session:

        async def client() -> None:
            nonlocal errors
            for n in numbers:
                headers = {"Content-Type": "application/json", "X-Request-Id": f"load-{n}"}
                started = time.perf_counter()
                async with session.post(url, data=bodies[n % len(bodies)], headers=headers) as response:
                    await response.read()
                    errors += response.status != 200
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        wall = time.perf_counter() - started
    return {"latencies_ms": latencies, "wall_s": wall, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--bodies", type=Path, required=True)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    bodies = [line.encode() for line in args.bodies.read_text().splitlines() if line]
    print(json.dumps(asyncio.run(load(args.url, bodies, args.clients, args.requests))))


if __name__ == "__main__":
    main()
