"""End to end through the real Airflow 3 processes: `airflow backfill create` of three ingest
spans runs to success under scheduler + dag-processor + api-server (scripts/airflow_services.sh),
the extra links resolve to reports served by the API server, and re-running a span with the
real CLI (`--reprocess-behavior completed`) rewrites byte-identical examples.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from ml.config import load_pipeline
from ml.roots import Roots
from ml.spans import SpanPaths, span_range

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / "scripts" / "airflow_services.sh"
FIRST, LAST = "2013-01-02", "2013-01-04"


def airflow(*args: str, env: dict[str, str], timeout: float = 300) -> str:
    out = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, f"airflow {' '.join(args)}:\n{out.stdout[-3000:]}{out.stderr[-3000:]}"
    return out.stdout


def wait_runs(first: str, last: str, env: dict[str, str], timeout: float = 480) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "scripts/airflow_wait.py",
            "--dag-id",
            "flights_ingest",
            "--from",
            first,
            "--to",
            last,
            "--timeout",
            str(timeout),
            "--poll",
            "3",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout + 60,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def roots(tmp_path_factory, landed_data_root) -> Roots:
    base = tmp_path_factory.mktemp("scheduler")
    shutil.copytree(landed_data_root, base / "data")
    return Roots.resolve(base / "data", base / "artifacts", base / "serving")


@pytest.fixture(scope="module")
def airflow_up(airflow_db, roots):
    """The session's Airflow home served by real processes; always stopped afterwards."""
    env = {
        **os.environ,
        "ML_DATA_ROOT": str(roots.data),
        "ML_ARTIFACT_ROOT": str(roots.artifacts),
        "ML_SERVING_ROOT": str(roots.serving),
    }
    try:
        subprocess.run(["bash", str(SERVICES), "start"], env=env, cwd=ROOT, check=True, timeout=420)
        base = env["AIRFLOW__API__BASE_URL"]
        deadline = time.monotonic() + 240
        while True:  # the dag-processor's first parse of dags/
            try:
                get_json(f"{base}/api/v2/dags/flights_ingest")
                break
            except OSError:
                assert time.monotonic() < deadline, "flights_ingest never reached the API"
                time.sleep(3)
        yield env
    finally:
        subprocess.run(["bash", str(SERVICES), "stop"], env=env, cwd=ROOT, timeout=120)


def test_cli_backfill_runs_through_the_scheduler(airflow_up, roots):
    env = airflow_up
    airflow(
        "backfill", "create", "--dag-id", "flights_ingest", "--from-date", FIRST, "--to-date", LAST, env=env
    )
    wait_runs(FIRST, LAST, env)

    paths = SpanPaths(load_pipeline("flights"), roots)
    for span in span_range(FIRST, LAST):
        assert paths.ingest_summary(span).is_file() and paths.verdict_file(span).is_file()
        assert json.loads(paths.verdict_file(span).read_text())["passed"] is True

    # The validate task's extra links point at the API server's report route, which serves them.
    base = env["AIRFLOW__API__BASE_URL"]
    runs = get_json(
        f"{base}/api/v2/dags/flights_ingest/dagRuns?logical_date_gte={FIRST}T00:00:00Z"
        f"&logical_date_lte={FIRST}T00:00:00Z"
    )["dag_runs"]
    assert [r["run_type"] for r in runs] == ["backfill"]
    run_id = urllib.parse.quote(runs[0]["dag_run_id"], safe="")
    links = get_json(f"{base}/api/v2/dags/flights_ingest/dagRuns/{run_id}/taskInstances/validate/links")[
        "extra_links"
    ]
    docs = links["Data Docs (Great Expectations)"]
    assert docs.startswith(f"{base}/ml-artifacts/flights/spans/")
    with urllib.request.urlopen(docs, timeout=30) as resp:
        assert resp.status == 200 and b"<html" in resp.read(2000).lower()
    assert links["Failure report"] is None

    # The task processes were forked from LocalExecutor workers that inherited the worker preload
    # (scripts/airflow_env.sh: forkserver + ml_airflow.preload): TF & co. were already imported.
    logs = Path(env["AIRFLOW_HOME"]) / "logs" / "dag_id=flights_ingest"
    validate_logs = sorted(logs.glob("run_id=*/task_id=validate/attempt=*.log"))
    assert validate_logs and all("(worker preload active)" in p.read_text() for p in validate_logs)


def test_rerunning_a_span_is_idempotent(airflow_up, roots):
    span = "2013-01-03"
    examples = SpanPaths(load_pipeline("flights"), roots).examples_dir(span)

    def digest() -> dict[str, str]:
        return {
            p.relative_to(examples).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(examples.rglob("*"))
            if p.is_file()
        }

    before, written = digest(), examples.stat().st_mtime_ns
    assert any(name.endswith(".tfrecord.gz") for name in before)
    airflow(
        "backfill",
        "create",
        "--dag-id",
        "flights_ingest",
        "--from-date",
        span,
        "--to-date",
        span,
        "--reprocess-behavior",
        "completed",
        env=airflow_up,
    )
    wait_runs(span, span, airflow_up)
    assert examples.stat().st_mtime_ns > written  # the span really ran again ...
    assert digest() == before  # ... and wrote the same bytes
