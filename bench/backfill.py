"""Backfill N daily spans three ways, side by side: the project, Airflow's floor, the bare work.

    .venv/bin/python bench/backfill.py [--spans 28] [--from 2013-01-15] [--smoke]

(a) `airflow backfill create` of `flights_ingest` (wait_for_span -> ingest -> validate) through the
    real scheduler, dag-processor and api-server (scripts/airflow_services.sh, the docs'
    default: LocalExecutor, SQLite, parallelism 4) on a private AIRFLOW_HOME and port;
(b) a no-op DAG of the same shape (four plain @task functions, same max_active_runs) through the
    same processes: Airflow's own per-span floor;
(c) the same ingest + validate (+ stats-html vs the drift baseline, as the validate task does)
    work in one bare process: `ml.cli.run_command` in a loop (its one-off import timed apart).

Prints per-span wall times, where the task time goes (mean run time and queue wait per task),
CPU seconds per task instance, and the peak memory of all Airflow and task processes together
(psutil over the services' process trees every 0.5 s: the sum of RSS, which counts pages that
forked processes share once per process, and the sum of PSS, which splits them: the real
footprint). The last line is `ratio (project / (no-op + bare work)) = X.XX`. --smoke: 2 spans.
Any AIRFLOW__* / ML_* variable exported beforehand wins: `AIRFLOW__CORE__EXECUTOR=LocalExecutor
AIRFLOW__SCHEDULER__MP_START_METHOD=fork` measures the set-up without the worker preload.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from _smoke import parse_args

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
sys.path.insert(0, str(ROOT))
from scripts import airflow_wait  # noqa: E402
from scripts.embedded_airflow import embedded_env, free_port, wait_for_dags  # noqa: E402

GIB = 1024**3
# the project's value, read without importing Airflow into this (measuring) process
INGEST_MAX_ACTIVE_RUNS = int(
    re.search(r"^INGEST_MAX_ACTIVE_RUNS = (\d+)", (ROOT / "dags" / "ml_pipelines.py").read_text(), re.M)[1]
)

NOOP_DAG = '''"""Airflow's floor: the shape of <pipeline>_ingest with tasks that do nothing."""
import datetime as dt

from airflow.sdk import DAG, CronPartitionTimetable, task

with DAG(
    dag_id="bench_noop",
    schedule=CronPartitionTimetable("0 0 * * *", timezone="UTC", key_format="%Y-%m-%d"),
    start_date=dt.datetime(2013, 1, 1, tzinfo=dt.UTC),
    catchup=True,
    max_active_runs={max_active_runs},
    tags=["bench"],
):

    @task
    def wait_for_span():
        return {{"span": "noop"}}

    @task
    def ingest(landed):
        return {{"rows": 0}}

    @task
    def validate(ingested):
        return {{"passed": True}}

    @task
    def trigger_retrain(validated):
        return {{"retrain": False}}

    trigger_retrain(validate(ingest(wait_for_span())))
'''


def airflow_env(work: Path) -> dict[str, str]:
    """scripts/airflow_env.sh over a private home, port, dags folder and data roots."""
    return embedded_env(
        {
            **os.environ,
            "AIRFLOW_HOME": str(work / "airflow"),
            "ML_AIRFLOW_PORT": str(free_port()),
            "AIRFLOW__CORE__DAGS_FOLDER": str(work / "dags"),
            "ML_DATA_ROOT": str(work / "data"),
            "ML_ARTIFACT_ROOT": str(work / "artifacts"),
            "ML_SERVING_ROOT": str(work / "serving"),
        }
    )


def run(cmd: list[str], env: dict[str, str], timeout: float = 600) -> str:
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if out.returncode:
        raise SystemExit(
            f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout[-3000:]}{out.stderr[-3000:]}"
        )
    return out.stdout


class TreeSampler(threading.Thread):
    """Every `interval` s: sum of RSS and of PSS over the process trees of `roots` (pids)."""

    def __init__(self, roots: list[int], interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.roots, self.interval = roots, interval
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.peak_rss = self.peak_pss = 0
        self.peak_procs = 0

    def processes(self) -> list[psutil.Process]:
        procs = []
        for pid in self.roots:
            try:
                root = psutil.Process(pid)
                procs += [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
        return procs

    def cpu_seconds(self) -> float:
        """CPU of the live trees, plus what their reaped children used."""
        total = 0.0
        for proc in self.processes():
            try:
                t = proc.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            except psutil.NoSuchProcess:
                continue
        return total

    def reset_peaks(self) -> tuple[int, int]:
        with self.lock:
            peaks = (self.peak_rss, self.peak_pss)
            self.peak_rss = self.peak_pss = 0
        return peaks

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            rss = pss = 0
            procs = self.processes()
            for proc in procs:
                try:
                    mem = proc.memory_full_info()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                rss += mem.rss
                pss += mem.pss
            with self.lock:
                self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
                self.peak_procs = max(self.peak_procs, len(procs))


def backfill(
    api, wait, env, dag_id: str, first: str, last: str, n: int, timeout: float, max_active: int | None
) -> dict:
    """`airflow backfill create` + poll the runs until all are finished -> timings and task stats."""
    days = [(dt.date.fromisoformat(first) + dt.timedelta(days=i)).isoformat() for i in range(n)]
    bounds = (first, last, days)  # daily partitions (airflow_wait.py)
    args = argparse.Namespace(
        dag_id=dag_id, run_id=None, start=first, end=last, bounds=bounds, page_size=wait.PAGE
    )
    create = ["airflow", "backfill", "create", "--dag-id", dag_id, "--from-date", first, "--to-date", last]
    create += ["--max-active-runs", str(max_active)] if max_active else []
    # ingest + validate only: no data-aware train run in the middle of the measurement (the
    # trigger_retrain task still runs and skips, as in any backfill of history)
    create += ["--dag-run-conf", '{"retrain": false}']
    start = time.monotonic()
    for attempt in range(3):
        try:
            run(create, env)
            break
        except SystemExit as exc:  # SQLite: "database is locked" when a read turns into a write
            if attempt == 2 or "database is locked" not in str(exc) or wait.fetch_runs(api, args):
                raise
            print(f"{dag_id}: backfill create hit 'database is locked'; again", flush=True)
            start = time.monotonic()
    first_done = None
    while True:
        runs = wait.fetch_runs(api, args)
        finished = [r for r in runs if r["state"] in wait.TERMINAL]
        if finished and first_done is None:
            first_done = time.monotonic() - start
        if len(runs) >= n and len(finished) == len(runs):
            break
        if time.monotonic() - start > timeout:
            raise SystemExit(f"{dag_id}: timeout after {timeout:.0f}s ({len(finished)}/{n} runs finished)")
        time.sleep(0.5)
    wall = time.monotonic() - start
    failed = {
        r["dag_run_id"]: wait.failed_tasks(api, dag_id, r["dag_run_id"])
        for r in runs
        if r["state"] != "success"
    }
    tis = api.get(f"/api/v2/dags/{dag_id}/dagRuns/~/taskInstances", limit=1000)["task_instances"]
    return {"wall": wall, "first_done": first_done, "failed": failed, "tasks": task_stats(tis)}


def parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def task_stats(tis: list[dict]) -> dict[str, dict[str, float]]:
    """Per task id: mean run time (start..end of the last try) and mean wait from queued to start."""
    out: dict[str, dict[str, float]] = {}
    for task_id in sorted({ti["task_id"] for ti in tis}):
        mine = [ti for ti in tis if ti["task_id"] == task_id]
        run_s = [ti["duration"] for ti in mine if ti.get("duration") is not None]
        queued = [
            (parse_time(ti["start_date"]) - parse_time(ti["queued_when"])).total_seconds()
            for ti in mine
            if ti.get("queued_when") and ti.get("start_date")
        ]
        out[task_id] = {
            "run_s": statistics.mean(run_s) if run_s else float("nan"),
            "queue_s": statistics.mean(queued) if queued else float("nan"),
            "tries": statistics.mean(ti.get("try_number") or 0 for ti in mine),
        }
    return out


BARE = """
import json, sys, time
from ml.errors import PipelineError
from ml.config import load_pipeline
from ml.spans import span_range
t0 = time.perf_counter()
from ml.cli import run_command
import ml.data.validate, tensorflow_data_validation, great_expectations  # the one-off import
t1 = time.perf_counter()
first, last, roots = sys.argv[1], sys.argv[2], sys.argv[3:]
failed = {}
for span in span_range(load_pipeline("flights"), first, last):
    try:  # a PipelineError fails the span's run under Airflow too (no retries)
        run_command(["ingest", "--pipeline", "flights", "--span", span, *roots])
        result = run_command(["validate", "--pipeline", "flights", "--span", span, *roots])
    except PipelineError as exc:
        failed[span] = exc.rule
        continue
    if result.get("baseline_span"):  # what ValidateOperator adds
        against = ["--against", result["baseline_span"]]
        run_command(["stats-html", "--pipeline", "flights", "--span", span, *against, *roots])
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "work_s": t2 - t1, "failed": failed}))
"""


def bare_work(work: Path, first: str, last: str, env: dict[str, str]) -> dict:
    roots = ["--data-root", str(work / "data"), "--artifact-root", str(work / "bare-artifacts")]
    proc = psutil.Popen(
        [sys.executable, "-c", BARE, first, last, *roots],
        cwd=ROOT,
        env={**env, "ML_PRELOAD": "0"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.5)
    out, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"bare work failed:\n{err[-3000:]}")
    return {**json.loads(out.strip().splitlines()[-1]), "peak_rss": peak}


def log_stats(logs: Path, dag_id: str) -> dict[str, float]:
    """From the task logs: mean DAG-file parse in the task process, and mean time from the task
    runner's first log line (it waits there for the supervisor's `ti.run` API call) to the
    parse, and from the parse to the last line (execute, XCom push, finish)."""
    parse_ms, start_s, rest_s = [], [], []
    for path in logs.glob(f"dag_id={dag_id}/run_id=*/task_id=*/attempt=*.log"):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]
        stamps = [parse_time(r["timestamp"]) for r in rows if "timestamp" in r]
        parsed = [(parse_time(r["timestamp"]), r) for r in rows if "dag_file_parse_ms" in r]
        if not parsed or not stamps:
            continue
        at, row = parsed[0]
        parse_ms.append(row["dag_file_parse_ms"] + row.get("bundle_prepare_ms", 0))
        start_s.append((at - stamps[0]).total_seconds() - parse_ms[-1] / 1000)
        rest_s.append((stamps[-1] - at).total_seconds())
    mean = lambda xs: statistics.mean(xs) if xs else float("nan")  # noqa: E731
    return {"startup_s": mean(start_s), "parse_s": mean(parse_ms) / 1000, "run_s": mean(rest_s)}


def print_tasks(name: str, stats: dict) -> None:
    for task_id, s in stats.items():
        print(
            f"  {name:8} {task_id:14} run {s['run_s']:6.2f} s  queued->start {s['queue_s']:6.2f} s"
            f"  tries {s['tries']:.2f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=28)
    parser.add_argument("--from", dest="first", default="2013-01-15")
    parser.add_argument("--timeout", type=float, default=1800, help="per backfill, seconds")
    parser.add_argument(
        "--max-active-runs",
        type=int,
        help="backfill create --max-active-runs (default: the CLI's, 10 runs at once; the DAGs' "
        f"max_active_runs={INGEST_MAX_ACTIVE_RUNS} bounds scheduled runs, not backfills)",
    )
    parser.add_argument("--workdir", help="default: a temp folder, removed afterwards")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, DB)")
    args = parse_args(parser, spans=2)
    first = dt.date.fromisoformat(args.first)
    last = (first + dt.timedelta(days=args.spans - 1)).isoformat()
    first, n = first.isoformat(), args.spans

    # SIGTERM (e.g. a test's timeout) unwinds like Ctrl-C, through the `finally` that stops Airflow
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-backfill-"))
    (work / "dags").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "dags" / "ml_pipelines.py", work / "dags" / "ml_pipelines.py")
    (work / "dags" / "bench_noop.py").write_text(NOOP_DAG.format(max_active_runs=INGEST_MAX_ACTIVE_RUNS))
    env = airflow_env(work)
    method = env.get("AIRFLOW__SCHEDULER__MP_START_METHOD", "default")
    preload = env.get("AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD") if method == "forkserver" else None
    print(
        f"{n} spans {first}..{last}; {env['AIRFLOW__CORE__EXECUTOR']}, parallelism "
        f"{env['AIRFLOW__CORE__PARALLELISM']}, "
        f"backfill max-active-runs {args.max_active_runs or 'default (10)'}, "
        f"mp_start_method {method}, "
        f"worker preload {preload}; "
        f"{os.cpu_count()} CPUs; work folder {work}",
        flush=True,
    )
    run(
        [
            sys.executable,
            "-m",
            "ml",
            "landing",
            "--pipeline",
            "flights",
            "--from",
            first,
            "--to",
            last,
            "--serving-log",
        ],
        env,
    )
    run(["bash", str(SCRIPTS / "airflow_setup.sh")], env)

    services = SCRIPTS / "airflow_services.sh"
    wait = airflow_wait
    results: dict[str, dict] = {}
    try:
        run(["bash", str(services), "start"], env)
        api = wait.Api(env["AIRFLOW__API__BASE_URL"])
        wait_for_dags(api, ["flights_ingest", "bench_noop"])
        pids = [
            int(line.split()[1]) for line in (work / "airflow" / "services.pids").read_text().splitlines()
        ]
        sampler = TreeSampler(pids)
        sampler.start()
        for name, dag_id in (("project", "flights_ingest"), ("no-op", "bench_noop")):
            cpu0 = sampler.cpu_seconds()
            sampler.reset_peaks()
            res = backfill(api, wait, env, dag_id, first, last, n, args.timeout, args.max_active_runs)
            res["cpu"] = sampler.cpu_seconds() - cpu0
            res["peak_rss"], res["peak_pss"] = sampler.reset_peaks()
            deadline = time.monotonic() + 120
            while wait.open_backfills(api, dag_id) and time.monotonic() < deadline:
                time.sleep(2)  # until the scheduler closed the backfill (SQLite: one writer at a time)
            results[name] = res
            print(
                f"{name}: {res['wall']:.1f} s for {n} spans, first run finished after "
                f"{res['first_done']:.1f} s, failed runs: {len(res['failed'])}",
                flush=True,
            )
        sampler.stop_event.set()
    finally:
        subprocess.run(["bash", str(services), "stop"], cwd=ROOT, env=env, capture_output=True, timeout=180)
    bare = bare_work(work, first, last, env)

    proj, noop = results["project"], results["no-op"]
    per = {"project": proj["wall"] / n, "no-op": noop["wall"] / n, "bare": bare["work_s"] / n}
    print("\nwhere the task time goes (mean per task instance):")
    print_tasks("project", proj["tasks"])
    print_tasks("no-op", noop["tasks"])
    for name, dag_id in (("project", "flights_ingest"), ("no-op", "bench_noop")):
        ls = log_stats(work / "airflow" / "logs", dag_id)
        print(
            f"  {name:8} in the task process: waits for ti.run {ls['startup_s']:.2f} s, "
            f"parses the DAG file {ls['parse_s']:.2f} s, runs + reports {ls['run_s']:.2f} s"
        )
    print(
        f"\nCPU-s per task instance (all Airflow + task processes): project "
        f"{proj['cpu'] / (3 * n):.2f}, no-op {noop['cpu'] / (3 * n):.2f}"
    )
    print(f"\n{'':34}{'total s':>9}{'s/span':>9}{'year min':>10}{'peak RSS sum':>14}{'peak PSS sum':>14}")
    rows = (
        ("(a) project under Airflow", proj["wall"], per["project"], proj["peak_rss"], proj["peak_pss"]),
        ("(b) no-op DAG (Airflow's floor)", noop["wall"], per["no-op"], noop["peak_rss"], noop["peak_pss"]),
        ("(c) bare work, one process", bare["work_s"], per["bare"], bare["peak_rss"], bare["peak_rss"]),
    )
    for label, total, per_span, rss, pss in rows:
        print(
            f"{label:34}{total:9.1f}{per_span:9.2f}{per_span * 365 / 60:10.1f}"
            f"{rss / GIB:11.2f} GiB{pss / GIB:11.2f} GiB"
        )
    print(f"(c) one-off import in the bare process: {bare['import_s']:.1f} s (not in its s/span)")
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    if proj["failed"] or bare["failed"]:  # real data: e.g. the blizzard of 2013-02-08/09
        print(f"spans failing their data checks: bare {bare['failed']}; project runs {proj['failed']}")
    broken = noop["failed"] or len(proj["failed"]) != len(bare["failed"])
    if broken:
        print(f"FAILED: no-op runs {noop['failed'] or 'none'}; project and bare disagree on failing spans")
    print(f"ratio (project / (no-op + bare work)) = {per['project'] / (per['no-op'] + per['bare']):.2f}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
