"""Wait for DAG runs through the Airflow REST API (no Airflow import: starts in milliseconds).

    python scripts/airflow_wait.py --dag-id P_ingest --from SPAN --to SPAN
    python scripts/airflow_wait.py --dag-id P_train --run-id demo__20240101T000000

Runs are matched by partition date (the ingest DAGs are asset-partitioned: a backfill makes one
run per span from..to inclusive, its partition key being the span; the spans are those of
pipeline P's cadence, ml.spans, P taken from `--pipeline` or the DAG id) or by run id.
Prints progress, then each finished run with its failed tasks. When backfill runs were waited
for, it also waits until the scheduler has closed the DAG's backfill (every 30 s), so that the
next `airflow backfill create` is accepted. Exit 0: all succeeded; 1: a run failed;
3: timeout. Uses $AIRFLOW__API__BASE_URL (scripts/airflow_env.sh).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

TERMINAL = {"success", "failed"}
PAGE = 100  # Airflow's [api] maximum_page_limit: a list request returns at most this many


class Api:
    """The project's one Airflow REST client (a bearer token; no Airflow import): used by this
    script, the demo, the benches and the scheduler tests."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")
        self.token = self._token()

    def _request(self, method: str, path: str, body: dict | None = None, auth: bool = True):
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def _token(self) -> str:
        """All-admins mode: token without credentials; else user admin + the generated password."""
        try:
            return self._request("GET", "/auth/token", auth=False)["access_token"]
        except urllib.error.HTTPError:
            home = Path(os.environ.get("AIRFLOW_HOME", "~/airflow")).expanduser()
            passwords = json.loads((home / "simple_auth_manager_passwords.json.generated").read_text())
            user = os.environ.get("ML_AIRFLOW_USER", "admin")
            body = {"username": user, "password": passwords[user]}
            return self._request("POST", "/auth/token", body, auth=False)["access_token"]

    def get(self, path: str, **params) -> dict:
        """GET `path` (`/api/v2/...`); a list value repeats its parameter (`state=[a, b]`)."""
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)
        return self._request("GET", path + (f"?{query}" if query else ""))

    def patch(self, path: str, body: dict) -> dict:
        return self._request("PATCH", path, body)

    def delete(self, path: str) -> None:
        self._request("DELETE", path)

    def get_all(self, path: str, key: str, page: int = PAGE, **params) -> list[dict]:
        """Every item of a list endpoint, page by page (the API caps `limit` at its page limit)."""
        items: list[dict] = []
        while True:
            got = self.get(path, limit=page, offset=len(items), **params)
            items += got[key]
            total = got.get("total_entries")
            if len(got[key]) < page or (total is not None and len(items) >= total):
                return items


def span_bounds(pipeline: str, start: str, end: str) -> tuple[str, str, list[str]]:
    """The calendar days (the API's partition date filter) holding spans start..end, and the spans."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from ml.config import load_pipeline
    from ml.spans import shift_span, span_range, span_start

    cfg = load_pipeline(pipeline)
    spans = span_range(cfg, start, end)
    last = span_start(cfg, shift_span(cfg, spans[-1], 1)) - dt.timedelta(seconds=1)
    return span_start(cfg, spans[0]).date().isoformat(), last.date().isoformat(), spans


def fetch_runs(api: Api, args) -> list[dict]:
    base = f"/api/v2/dags/{urllib.parse.quote(args.dag_id)}/dagRuns"
    if args.run_id:
        try:
            return [api.get(f"{base}/{urllib.parse.quote(args.run_id, safe='')}")]
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise
    first, last, spans = args.bounds
    runs = api.get_all(
        base,
        "dag_runs",
        args.page_size,
        partition_date_gte=first,
        partition_date_lte=last,
        order_by="run_after",
    )
    return [r for r in runs if r.get("partition_key") in spans]  # e.g. hourly: other hours that day


def open_backfills(api: Api, dag_id: str, page: int = PAGE) -> list[int]:
    backfills = api.get_all("/api/v2/backfills", "backfills", page, dag_id=dag_id)
    return [b["id"] for b in backfills if not b.get("completed_at")]


def failed_tasks(api: Api, dag_id: str, run_id: str) -> list[str]:
    tis = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances")[
        "task_instances"
    ]
    return sorted(ti["task_id"] for ti in tis if ti["state"] in ("failed", "upstream_failed"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dag-id", required=True)
    parser.add_argument("--run-id")
    parser.add_argument("--from", dest="start", help="first span id")
    parser.add_argument("--to", dest="end", help="last span id (inclusive)")
    parser.add_argument("--pipeline", help="whose spans --from/--to are (default: the DAG id before _ingest)")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--poll", type=float, default=5)
    parser.add_argument(
        "--page-size", type=int, default=PAGE, help="runs per API request (it pages through all)"
    )
    parser.add_argument(
        "--base-url", default=os.environ.get("AIRFLOW__API__BASE_URL", "http://localhost:8080")
    )
    args = parser.parse_args()
    if not args.run_id and not (args.start and args.end):
        parser.error("give --run-id or --from and --to")
    if not args.run_id:
        args.bounds = span_bounds(args.pipeline or args.dag_id.rsplit("_", 1)[0], args.start, args.end)
    expected = 1 if args.run_id else len(args.bounds[2])

    api, deadline, last = Api(args.base_url), time.monotonic() + args.timeout, None
    while True:
        runs = fetch_runs(api, args)
        states = sorted(r["state"] for r in runs)
        summary = {s: states.count(s) for s in set(states)}
        if summary != last:
            print(
                f"{args.dag_id}: {len(runs)}/{expected} runs {json.dumps(summary, sort_keys=True)}",
                flush=True,
            )
            last = summary
        done = len(runs) >= expected and all(s in TERMINAL for s in states)
        backfilled = any(r.get("run_type") == "backfill" for r in runs)
        if done and not (backfilled and open_backfills(api, args.dag_id, args.page_size)):
            break
        if time.monotonic() > deadline:
            print(f"timeout after {args.timeout:.0f}s waiting for {args.dag_id}", file=sys.stderr)
            return 3
        time.sleep(args.poll)
    failed = [r for r in runs if r["state"] != "success"]
    for run in failed:
        print(
            f"FAILED {args.dag_id} {run['dag_run_id']}: tasks "
            f"{', '.join(failed_tasks(api, args.dag_id, run['dag_run_id'])) or '?'}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
