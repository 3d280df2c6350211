"""End to end through the real Airflow 3 processes: `airflow backfill create` of four ingest
spans runs to success under scheduler + dag-processor + api-server (scripts/airflow_services.sh);
each run is an asset partition (partition key = span); `validate` emits one examples asset event
per span with that partition key; each run's `trigger_retrain` decides and, for the span whose
departure delays shifted (a dep_delay drift alarm), triggers the train DAG for the newest span;
the extra links resolve to reports served by the API server; and re-running a span with the
real CLI (`--reprocess-behavior completed`) rewrites byte-identical examples.
"""

from __future__ import annotations

import csv
import functools
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
from scripts.airflow_wait import Api

from conftest import cli, invert_ewr, rewrite_labels

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "scripts" / "airflow_services.sh"
FIRST, LAST = "2013-01-02", "2013-01-05"
SHIFTED = "2013-01-05"  # departures 3 h late: a dep_delay drift alarm vs 2013-01-04


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


def wait_runs(
    first: str,
    last: str,
    env: dict[str, str],
    timeout: float = 480,
    dag_id: str = "flights_ingest",
    page_size: int = 100,
) -> str:
    out = subprocess.run(
        [
            sys.executable,
            "scripts/airflow_wait.py",
            "--dag-id",
            dag_id,
            "--from",
            first,
            "--to",
            last,
            "--timeout",
            str(timeout),
            "--poll",
            "3",
            "--page-size",
            str(page_size),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout + 60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


@functools.cache
def airflow_api(base: str) -> Api:
    """The project's Airflow REST client (scripts/airflow_wait.py) for the API server at `base`."""
    return Api(base)


def get_json(url: str) -> dict:
    """GET an Airflow API URL (`<base>/api/v2/...`) through the project's client."""
    base, path = url.split("/api/v2/", 1)
    return airflow_api(base).get(f"/api/v2/{path}")


def delete_waiting_runs(base: str, dag_id: str) -> None:
    """Delete `dag_id`'s queued and running runs (a paused DAG's triggered runs wait there; one
    another file's dag.test() left queued may have started before the fixture paused the DAG:
    it is marked failed first, the API refuses to delete a running run), so that the next
    trigger decision is not skipped as "already queued or running"."""
    api = airflow_api(base)
    runs = api.get(f"/api/v2/dags/{dag_id}/dagRuns", limit=100, state=["queued", "running"])["dag_runs"]
    for run in runs:
        run_path = f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run['dag_run_id'], safe='')}"
        if run["state"] == "running":
            api.patch(run_path, {"state": "failed"})
        api.delete(run_path)


@pytest.fixture(scope="module")
def roots(tmp_path_factory, landed_data_root, weather_landed) -> Roots:
    base = tmp_path_factory.mktemp("scheduler")
    shutil.copytree(landed_data_root, base / "data")
    shutil.copytree(weather_landed, base / "data", dirs_exist_ok=True)
    csv_file = base / "data" / "flights" / f"span={SHIFTED}" / "flights.csv"
    with open(csv_file, newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(csv_file, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(
            {**r, "dep_delay": str(float(r["dep_delay"]) + 180) if r["dep_delay"] else ""} for r in rows
        )
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
        for dag_id in ("flights_ingest", "flights_train", "weather_ingest", "weather_train"):
            while True:  # the dag-processor's first parse of dags/
                try:
                    get_json(f"{base}/api/v2/dags/{dag_id}")
                    break
                except OSError:
                    assert time.monotonic() < deadline, f"{dag_id} never reached the API"
                    time.sleep(3)
        # a triggered train run stays queued (asserted, not run: the model tests train)
        airflow("dags", "pause", "flights_train", env=env)
        airflow("dags", "pause", "weather_train", env=env)
        yield env
    finally:
        subprocess.run(["bash", str(SERVICES), "stop"], env=env, cwd=ROOT, timeout=120)


def test_cli_backfill_runs_through_the_scheduler(airflow_up, roots):
    env = airflow_up
    # the session's DB is shared with other files' dag.test() runs: a train run one of them
    # triggered may wait or run there and would skip the decision below as "already queued"
    delete_waiting_runs(env["AIRFLOW__API__BASE_URL"], "flights_train")
    airflow(
        "backfill", "create", "--dag-id", "flights_ingest", "--from-date", FIRST, "--to-date", LAST, env=env
    )
    waited = wait_runs(FIRST, LAST, env, page_size=3)  # 4 runs: more than one page of the real API
    assert "flights_ingest: 4/4 runs" in waited, waited

    paths = SpanPaths(load_pipeline("flights"), roots)
    for span in span_range(load_pipeline("flights"), FIRST, LAST):
        assert paths.ingest_summary(span).is_file() and paths.verdict_file(span).is_file()
        assert json.loads(paths.verdict_file(span).read_text())["passed"] is True

    # Every backfill run is an asset partition whose key is its span ...
    base = env["AIRFLOW__API__BASE_URL"]
    # (the session's DB is shared with the dag.test() runs of other test files: backfill runs only)
    runs = get_json(f"{base}/api/v2/dags/flights_ingest/dagRuns?limit=100&run_type=backfill")["dag_runs"]
    assert sorted(r["partition_key"] for r in runs) == span_range(load_pipeline("flights"), FIRST, LAST)
    # ... and validate emitted one examples event per span, each with the span as partition key
    backfilled = {r["dag_run_id"] for r in runs}
    events = get_json(f"{base}/api/v2/assets/events?source_dag_id=flights_ingest&limit=100")["asset_events"]
    events = [e for e in events if e["source_run_id"] in backfilled]
    assert sorted((e["source_task_id"], e["partition_key"]) for e in events) == [
        ("validate", span) for span in span_range(load_pipeline("flights"), FIRST, LAST)
    ]
    assert all(e["extra"]["span"] == e["partition_key"] for e in events)

    # Data-aware retraining: each run decided once; only the dep_delay alarm of the shifted span
    # triggered training, for the newest validated span (flights_train is paused: its run waits)
    decided = {}
    for run in runs:
        run_id = urllib.parse.quote(run["dag_run_id"], safe="")
        ti = get_json(f"{base}/api/v2/dags/flights_ingest/dagRuns/{run_id}/taskInstances/trigger_retrain")
        decided[run["partition_key"]] = ti["state"]
    assert decided == {
        **dict.fromkeys(span_range(load_pipeline("flights"), FIRST, LAST), "skipped"),
        SHIFTED: "success",
    }
    train_runs = get_json(f"{base}/api/v2/dags/flights_train/dagRuns?limit=100")["dag_runs"]
    train_runs = [r for r in train_runs if r["dag_run_id"].startswith("retrain__")]
    assert [r["conf"]["span"] for r in train_runs] == [LAST]
    assert "dep_delay" in train_runs[0]["conf"]["reason"]

    # The validate task's extra links point at the ML view's report route, which serves them.
    runs = [r for r in runs if r["partition_key"] == FIRST]
    run_id = urllib.parse.quote(runs[0]["dag_run_id"], safe="")
    links = get_json(f"{base}/api/v2/dags/flights_ingest/dagRuns/{run_id}/taskInstances/validate/links")[
        "extra_links"
    ]
    docs = links["Data Docs (Great Expectations)"]
    assert docs.startswith("/ml-artifacts/flights/spans/")  # host-relative: works behind any proxy
    with urllib.request.urlopen(f"{base}{docs}", timeout=30) as resp:
        assert resp.status == 200 and b"<html" in resp.read(2000).lower()
    assert links["Failure report"] is None

    # The ML view: the spans in its grid, each linked to its validate task instance, whose
    # Reports tab lists the same reports (URLs built when the tab is opened)
    with urllib.request.urlopen(f"{base}/ml-artifacts/flights/", timeout=30) as resp:
        page = resp.read().decode()
    assert f'data-span="{FIRST}" data-check="GE"' in page
    assert f"/dags/flights_ingest/runs/{run_id}/tasks/validate" in page
    with urllib.request.urlopen(f"{base}/ml-artifacts/_ti/flights_ingest/{run_id}/validate/-1") as resp:
        tab = resp.read().decode()
    assert "Data Docs (Great Expectations)" in tab and "/ml-artifacts/flights/spans/" in tab

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


def test_monthly_spans_of_the_second_pipeline_run_through_the_scheduler(airflow_up, roots):
    """weather_ingest: one run per month, partition key = the monthly span id; the drift baseline
    of February is January; the retrain trigger (new_spans: 1) queued one weather_train run."""
    env, months = airflow_up, ["2013-01", "2013-02"]
    airflow(
        "backfill",
        "create",
        "--dag-id",
        "weather_ingest",
        "--from-date",
        "2013-01-01",
        "--to-date",
        "2013-02-01",
        env=env,
    )
    wait_runs(months[0], months[-1], env, dag_id="weather_ingest")
    base = env["AIRFLOW__API__BASE_URL"]
    runs = get_json(f"{base}/api/v2/dags/weather_ingest/dagRuns?limit=100&run_type=backfill")["dag_runs"]
    assert sorted(r["partition_key"] for r in runs) == months
    paths = SpanPaths(load_pipeline("weather"), roots)
    verdicts = {m: json.loads(paths.verdict_file(m).read_text()) for m in months}
    assert all(v["passed"] for v in verdicts.values())
    assert verdicts["2013-02"]["checks"]["drift"]["baseline_spans"] == ["2013-01"]
    train_runs = get_json(f"{base}/api/v2/dags/weather_train/dagRuns?limit=100")["dag_runs"]
    retrains = [r for r in train_runs if r["dag_run_id"].startswith("retrain__")]
    assert len(retrains) == 1 and retrains[0]["conf"]["span"] in months
    assert "new_spans" in retrains[0]["conf"]["reason"]


def test_monitor_dag_late_labels_then_a_concept_shift_retrains(airflow_up, roots, served_flights):
    """The live model through the scheduler: two spans answered by the served version 1; their
    monitor runs come from `airflow backfill create --dag-id flights_monitor` (each estimated from
    its prediction log first, then judged with its labels). 2013-01-07's labels
    have not landed yet: it is monitored partial (no coverage). Then they land, with every EWR
    flight's label inverted (a concept shift): re-running the span restates it, realized AUC falls
    below the band -> one flights_train run with reason `performance` (paused: it waits). It trains
    on the newest validated span: those of this module's first test (module order)."""
    env = airflow_up
    cfg = load_pipeline("flights")
    paths = SpanPaths(cfg, roots)
    shutil.rmtree(roots.serving, ignore_errors=True)
    shutil.copytree(served_flights["roots"].serving, roots.serving)  # version 1 is stable here
    first, late = "2013-01-06", "2013-01-07"
    cli(roots, "serve-span", "--span", first, "--to", late)
    labels = paths.labels_dir(late)
    held = labels.parent / ".held"
    shutil.move(labels, held)  # the arrival delays of 01-07 land a day later
    airflow(
        "backfill", "create", "--dag-id", "flights_monitor", "--from-date", first, "--to-date", late, env=env
    )
    wait_runs(first, late, env, dag_id="flights_monitor")
    rows = {
        r["span"]: r
        for r in cli(roots, "results", "monitor", "--json")["rows"]
        if r["version_label"] == "stable"
    }
    assert rows[first]["partial"] is False and rows[first]["coverage"] > 0.95 and not rows[first]["alarm"]
    assert rows[late]["partial"] is True and rows[late]["labelled"] == 0  # monitored with what arrived

    shutil.move(held, labels)  # the labels land, a concept shift in them
    rewrite_labels(roots, late, invert_ewr)
    base = env["AIRFLOW__API__BASE_URL"]
    delete_waiting_runs(base, "flights_train")  # the data-aware retrain of the first test waits there
    airflow(
        "backfill",
        "create",
        "--dag-id",
        "flights_monitor",
        "--from-date",
        late,
        "--to-date",
        late,
        "--reprocess-behavior",
        "completed",
        env=env,
    )
    wait_runs(late, late, env, dag_id="flights_monitor")
    every = [
        r for r in cli(roots, "results", "monitor", "--all-cutoffs", "--json")["rows"] if r["span"] == late
    ]
    realized = {r["cutoff"] for r in every if r["stage"] == "realized"}
    assert len(realized) == 2  # restated; the partial monitoring kept
    estimated = {r["cutoff"] for r in every if r["stage"] == "estimated"}
    assert len(estimated) == 1 and min(estimated) < min(realized)  # before labels, and not again:
    # the re-run's estimate had nothing new (the same predictions), so it kept its result
    restated = next(
        r
        for r in cli(roots, "results", "monitor", "--json")["rows"]
        if r["span"] == late and r["version_label"] == "stable"
    )
    assert restated["partial"] is False and restated["alarm"] and restated["restated"] == 1
    train_runs = get_json(f"{base}/api/v2/dags/flights_train/dagRuns?limit=100")["dag_runs"]
    performance = [r for r in train_runs if (r.get("conf") or {}).get("trigger") == "performance"]
    assert len(performance) == 1 and performance[0]["conf"]["reason"].startswith("performance: stable: ")
