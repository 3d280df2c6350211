"""How long the ML view takes to answer for a year of spans (target: <= 1 s).

Fills a fresh results store with 365 daily spans (a failed ingest every 30 days, a GE failure
every 45), their drift and skew rows (5 + 4 features), 26 weekly training runs with per-slice
metrics and pushes, then requests the pipeline page and its JSON routes through the real
plugin app with a real JWT of Airflow's simple auth manager (auth checks included), in process.
Prints the median and max of 7 requests after one warm-up, and the page size.

    python bench/ml_view_load.py            # server side
    python bench/ml_view_load.py --browser  # + headless Chromium: until the plots are drawn
    python bench/ml_view_load.py --smoke    # 30 spans, 3 runs, 2 requests: that it runs
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _smoke import parse_args

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]
HOME = tempfile.mkdtemp(prefix="ml-view-bench-")
atexit.register(shutil.rmtree, HOME, ignore_errors=True)
os.environ.update(
    AIRFLOW_HOME=HOME,
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{HOME}/airflow.db",
    AIRFLOW__API_AUTH__JWT_SECRET="bench-" * 12,
    AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    ML_ARTIFACT_ROOT=f"{HOME}/artifacts",
)
DRIFT = {"carrier": 0.1, "origin": 0.15, "dest": 0.05, "dep_delay": 0.5, "temp": 0.99}
SKEW = {"carrier": 0.1, "origin": 0.1, "dep_delay": 0.1, "distance": 0.1}
SLICES = ["Overall", *(f"carrier={c}" for c in "9E AA AS B6 DL EV F9 FL HA MQ OO UA US VX WN YV".split())]


def fill_store(days: int, runs: int) -> None:
    import sqlalchemy as sa

    from ml.config import load_pipeline
    from ml.results import open_store
    from ml.results import schema as t
    from ml.roots import Roots

    store = open_store(load_pipeline("flights"), Roots.resolve())
    first = dt.date(2013, 1, 1)
    spans, checks = [], []
    for i in range(days):
        span = (first + dt.timedelta(days=i)).isoformat()
        base = {"pipeline": "flights", "span": span, "updated_at": "2026-01-01T00:00:00Z"}
        if i % 30 == 29:
            spans.append(base | {"status": "ingest_failed", "error": "dep_delay must be float"})
            continue
        failed = i % 45 == 44
        spans.append(
            base
            | {
                "status": "failed" if failed else "passed",
                "rows": 900 + i % 50,
                "train_rows": 720,
                "eval_rows": 180,
                "label_positive_rate": 0.2 + (i % 7) / 50,
                "ge_evaluated": 43,
                "ge_failed": int(failed),
                "schema_anomalies": 0,
                "drift_ran": i > 0,
                "drift_alarms": 0,
                "skew_ran": True,
                "skew_alarms": 0,
                "baseline_span": spans[-1]["span"] if i else None,
            }
        )
        for check, features in (("drift", DRIFT), ("skew", SKEW)):
            for name, threshold in features.items():
                value = threshold * ((i * 7 + len(name)) % 13) / 12
                checks.append(
                    {"pipeline": "flights", "span": span}
                    | {
                        "check": check,
                        "name": name,
                        "kind": "jsd",
                        "comparator": "jsd",
                        "value": value,
                        "threshold": threshold,
                        "passed": value < threshold,
                    }
                )
    models, metrics, events = [], [], []
    for week in range(runs):
        run = f"{(first + dt.timedelta(days=7 * week + 13)).isoformat()}-w14"
        models.append(
            {
                "pipeline": "flights",
                "run_id": run,
                "model_dir": f"/m/{run}",
                "evaluation_dir": f"/e/{run}",
                "first_span": spans[7 * week]["span"],
                "last_span": spans[7 * week + 13]["span"],
                "blessed": week % 4 != 3,
                "evaluated_at": f"2026-01-{week + 1:02d}",
                "thresholds": {"auc_lower_bound": 0.65},
            }
        )
        for s in SLICES:
            for metric in ("auc", "example_count", "binary_accuracy", "precision", "recall"):
                metrics.append(
                    {
                        "pipeline": "flights",
                        "run_id": run,
                        "model": "candidate",
                        "slice": s,
                        "metric": metric,
                        "value": 0.7,
                    }
                )
        if week % 4 != 3:
            events.append(
                {
                    "pipeline": "flights",
                    "version": len(events) + 1,
                    "event": "push",
                    "model_name": "flights",
                    "run_id": run,
                    "at": f"2026-01-{week + 1:02d}",
                }
            )

    def fill(conn) -> None:
        for table, rows in ((t.spans, spans), (t.checks, checks)):
            for row in rows:  # rows differ in their keys
                conn.execute(sa.insert(table).values(**row))
        conn.execute(sa.insert(t.models), models)
        conn.execute(sa.insert(t.model_metrics), metrics)
        conn.execute(sa.insert(t.serving_events), events)

    store.write(fill)
    print(
        f"store: {len(spans)} spans, {len(checks)} drift/skew rows, {len(models)} runs, "
        f"{len(metrics)} metrics"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="daily spans in the store")
    parser.add_argument("--runs", type=int, default=26, help="weekly training runs (14-span windows)")
    parser.add_argument("--requests", type=int, default=7, help="timed requests per route")
    parser.add_argument("--browser", action="store_true", help="+ headless Chromium")
    args = parse_args(parser, days=30, runs=3, requests=2)
    from airflow.cli.cli_parser import get_parser

    migrate = get_parser().parse_args(["db", "migrate"])
    migrate.func(migrate)
    from airflow.api_fastapi.app import init_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from ml_airflow_plugin import MLViewPlugin

    fill_store(args.days, args.runs)
    token = init_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    api = FastAPI()
    api.mount("/ml-artifacts", MLViewPlugin.fastapi_apps[0]["app"])
    client = TestClient(api, headers={"Authorization": f"Bearer {token}"})
    print(f"{'route':32} {'median s':>9} {'max s':>7} {'KiB':>7}")
    worst = 0.0
    for route in (
        "/ml-artifacts/flights/",
        "/ml-artifacts/flights/api/spans",
        "/ml-artifacts/flights/api/models",
    ):
        client.get(route).raise_for_status()  # warm-up (store opened, templates compiled)
        times, size = [], 0
        for _ in range(args.requests):
            start = time.perf_counter()
            response = client.get(route)
            times.append(time.perf_counter() - start)
            response.raise_for_status()
            size = len(response.content)
        worst = max(worst, statistics.median(times))
        print(f"{route:32} {statistics.median(times):9.3f} {max(times):7.3f} {size / 1024:7.0f}")
    if args.browser:
        worst = max(worst, browser_load(api, token))
    print(f"{'ok' if worst <= 1.0 else 'SLOW'}: {args.days} spans in {worst:.3f} s (target <= 1 s)")


def browser_load(api, token: str) -> float:
    """Seconds from navigation until the grid and every plot are drawn, in headless Chromium
    (first visit: plotly.js not cached yet; then the median of 3 visits)."""
    import socket
    import threading

    import uvicorn
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    base = f"http://127.0.0.1:{port}/ml-artifacts"
    drawn = (
        "return document.querySelectorAll('.main-svg').length >= 3 && document.getElementById('span-grid')"
    )
    try:
        driver.get(f"{base}/_static/ml.css")  # the cookie's origin
        driver.add_cookie({"name": "_token", "value": token, "path": "/"})
        times = []
        for _ in range(4):
            start = time.perf_counter()
            driver.get(f"{base}/flights/")
            WebDriverWait(driver, 30, poll_frequency=0.02).until(lambda d: d.execute_script(drawn))
            times.append(time.perf_counter() - start)
        shots = ROOT / ".local" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(shots / "bench-year-of-spans.png"))
    finally:
        driver.quit()
        server.should_exit = True
    warm = statistics.median(times[1:])
    print(f"{'browser: page drawn (first / warm)':32} {times[0]:9.3f} {warm:7.3f}")
    return warm


if __name__ == "__main__":
    main()
