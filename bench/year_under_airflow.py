"""A year under Airflow, end to end: backfill a year of flights spans, then one train run.

    .venv/bin/python bench/year_under_airflow.py [--from 2013-01-01] [--to 2013-12-31] [--window 90]
    make year                                     # the same: 2013, window 90 (~11 min on 2 cores)
    .venv/bin/python bench/year_under_airflow.py --smoke   # 2 spans, window 2 (~2 min)

The documented user path (docs/how-to/backfill.md), timed step by step, on a private
AIRFLOW_HOME, port and data/artifact/serving roots under .local/bench/year_under_airflow/
($ML_BENCH_ROOT/year_under_airflow/ where set; wiped when a run starts, kept afterwards for its
logs and DB: 1.7 GB after a year; `--workdir` elsewhere), so it never touches the demo's state:

1. `python -m ml landing --pipeline flights --from F --to T --serving-log` (the upstream system);
2. scripts/airflow_setup.sh, scripts/airflow_services.sh start (scheduler, dag-processor,
   api-server: the embedded default of scripts/airflow_env.sh, LocalExecutor + worker preload,
   SQLite, parallelism 4);
3. `airflow backfill create --dag-id flights_ingest --from-date F --to-date T --dag-run-conf
   '{"retrain": false}'` (one run per span: wait_for_span -> ingest -> validate ->
   trigger_retrain; retrain off so that the one train run is the one triggered below) and
   scripts/airflow_wait.py until every run has finished and the backfill is closed;
4. `airflow dags trigger flights_train --conf '{"span": T, "window": W}'` (transform -> train ->
   evaluate -> is_blessed -> infra_validate -> push over the W spans ending at T, evaluated
   against nothing served yet) and scripts/airflow_wait.py on that run;
5. the task instances of both DAGs read from the REST API; the services stopped (also on failure
   or Ctrl-C).

Prints (stdout) a table: total wall time and each step's; the backfill's time from `backfill
create` to its last run's end and per span; the ingest runs that succeeded / failed (real data:
some spans fail their checks, e.g. the blizzard of 2013-02-08/09) with the mean run time and
queued->start wait per ingest task; the train run's tasks with their state, run time and wait
since the task before ended (scheduling); then the same as one JSON line. Progress on stderr;
the Airflow CLI's own output in <workdir>/year.log. Exit 1 if the train run did not succeed.
Any AIRFLOW__* variable exported beforehand wins (as in scripts/airflow_env.sh); ML_RESULTS_DB
and ML_SERVING_URL are dropped so that the results store and serving stay private too.
A short check: `--from 2013-01-01 --to 2013-01-20 --window 14` (~2 min).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

from _smoke import parse_args, work_dir

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
sys.path.insert(0, str(ROOT))
from scripts import airflow_wait  # noqa: E402
from scripts.embedded_airflow import embedded_env, free_port, wait_for_dags  # noqa: E402

WORK = work_dir("year_under_airflow")
PIPELINE = "flights"
INGEST, TRAIN = f"{PIPELINE}_ingest", f"{PIPELINE}_train"


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def airflow_env(work: Path) -> dict[str, str]:
    """scripts/airflow_env.sh over a private home, port and data/artifact/serving roots."""
    base = {k: v for k, v in os.environ.items() if k not in ("ML_RESULTS_DB", "ML_SERVING_URL")}
    return embedded_env(
        base
        | {
            "AIRFLOW_HOME": str(work / "airflow"),
            "ML_AIRFLOW_PORT": str(free_port()),
            "ML_DATA_ROOT": str(work / "data"),
            "ML_ARTIFACT_ROOT": str(work / "artifacts"),
            "ML_SERVING_ROOT": str(work / "serving"),
        }
    )


class Steps:
    """Runs the commands: chatty ones into the log file (its tail shown on failure), timed."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log, self.times = env, log, {}

    def quiet(self, cmd: list[str], timeout: float = 1800) -> str:
        with self.log.open("a") as log:
            log.write(f"\n$ {' '.join(cmd)}\n")
            log.flush()
            out = subprocess.run(
                cmd, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=log, text=True, timeout=timeout
            )
            log.write(out.stdout)
        if out.returncode:
            tail = "".join(self.log.read_text().splitlines(keepends=True)[-25:])
            raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}); last lines of {self.log}:\n{tail}")
        return out.stdout

    def wait(self, args: list[str], timeout: float) -> int:
        """scripts/airflow_wait.py, its progress on stderr; its exit status (1: a run failed)."""
        cmd = [sys.executable, str(SCRIPTS / "airflow_wait.py"), *args, "--timeout", str(timeout)]
        rc = subprocess.run(cmd, cwd=ROOT, env=self.env, stdout=sys.stderr, timeout=timeout + 120).returncode
        if rc not in (0, 1):
            raise SystemExit(f"{' '.join(cmd)} exited {rc} (3: timeout)")
        return rc


def parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def queue_wait(ti: dict) -> float | None:
    queued, started = parse_time(ti.get("queued_when")), parse_time(ti.get("start_date"))
    return (started - queued).total_seconds() if queued and started else None


def run_ends(runs: list[dict]) -> list[dt.datetime]:
    return [end for r in runs if (end := parse_time(r.get("end_date")))]


def mean(values: list[float]) -> float | None:
    return round(statistics.mean(values), 2) if values else None


def ingest_summary(api, wait, first: str, last: str, created: dt.datetime) -> dict:
    """The backfill's runs (succeeded / failed, with the failed spans' failed tasks), the time from
    `backfill create` to the end of its last run, and the mean run time and queued->start wait
    per ingest task."""
    args = argparse.Namespace(
        dag_id=INGEST, run_id=None, page_size=wait.PAGE, bounds=wait.span_bounds(PIPELINE, first, last)
    )
    runs = wait.fetch_runs(api, args)
    failed = {
        r["partition_key"]: wait.failed_tasks(api, INGEST, r["dag_run_id"])
        for r in runs
        if r["state"] != "success"
    }
    tis = api.get_all(f"/api/v2/dags/{INGEST}/dagRuns/~/taskInstances", "task_instances")
    tasks = {}
    order = ["wait_for_span", "ingest", "validate", "trigger_retrain"]  # the DAG's, then any other
    for task_id in sorted(
        {ti["task_id"] for ti in tis}, key=lambda t: (t not in order, order.index(t) if t in order else 0, t)
    ):
        mine = [ti for ti in tis if ti["task_id"] == task_id]
        tasks[task_id] = {
            "states": {
                s: sum(ti["state"] == s for ti in mine) for s in sorted({str(ti["state"]) for ti in mine})
            },
            "mean_run_s": mean([ti["duration"] for ti in mine if ti.get("duration") is not None]),
            "mean_queued_s": mean([w for ti in mine if (w := queue_wait(ti)) is not None]),
        }
    return {
        "spans": len(args.bounds[2]),
        "runs": len(runs),
        "runs_s": round((max(ends) - created).total_seconds(), 1) if (ends := run_ends(runs)) else None,
        "succeeded": sum(r["state"] == "success" for r in runs),
        "failed": len(failed),
        "failed_spans": failed,
        "tasks": tasks,
    }


def xcom(api, run_id: str, task_id: str) -> dict:
    run = urllib.parse.quote(run_id, safe="")
    try:
        path = f"/api/v2/dags/{TRAIN}/dagRuns/{run}/taskInstances/{task_id}/xcomEntries/return_value"
        return api.get(path, deserialize="true")["value"] or {}
    except OSError:
        return {}


def train_summary(api, run_id: str) -> dict:
    """The train run: its state and wall time, each task's state / run time / queue wait, and what
    it trained on and decided (from the transform and evaluate XComs)."""
    run = urllib.parse.quote(run_id, safe="")
    info = api.get(f"/api/v2/dags/{TRAIN}/dagRuns/{run}")
    tis = api.get(f"/api/v2/dags/{TRAIN}/dagRuns/{run}/taskInstances")["task_instances"]
    tis.sort(key=lambda ti: (ti.get("start_date") or "9", ti["task_id"]))
    start, end = parse_time(info.get("start_date")), parse_time(info.get("end_date"))
    tasks, previous = {}, start  # tasks run one after another: each waits for the one before
    for ti in tis:
        began, ended = parse_time(ti.get("start_date")), parse_time(ti.get("end_date"))
        tasks[ti["task_id"]] = {
            "state": ti["state"],
            "run_s": None if ti.get("duration") is None else round(ti["duration"], 1),
            "wait_s": round((began - previous).total_seconds(), 1) if began and previous else None,
            "tries": ti.get("try_number"),
        }
        previous = ended or previous
    transform, evaluation = xcom(api, run_id, "transform"), xcom(api, run_id, "evaluate")
    auc = (evaluation.get("candidate") or {}).get("auc")
    return {
        "run_id": run_id,
        "state": info["state"],
        "run_s": round((end - start).total_seconds(), 1) if start and end else None,
        "tasks": tasks,
        "spans_used": len(transform.get("spans_used") or []),
        "spans_skipped": len(transform.get("spans_skipped") or [])
        + len(transform.get("spans_missing") or []),
        "rows": transform.get("rows"),
        "blessed": evaluation.get("blessed"),
        "auc": None if auc is None else round(auc, 4),
    }


def fmt(value, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def print_table(result: dict) -> None:
    t, ingest, train = result["times_s"], result["ingest"], result["train"]
    print(
        f"A year under Airflow: {ingest['spans']} spans {result['from']}..{result['to']}, "
        f"train window {result['window']}; {result['cpus']} CPUs, {result['executor']}, "
        f"parallelism {result['parallelism']}"
    )
    print(f"{'step':34}{'wall s':>9}")
    for label, key in (
        ("landing (ml landing)", "landing"),
        ("airflow db migrate + pool", "setup"),
        ("services up, DAGs parsed", "services"),
        ("backfill flights_ingest", "backfill"),
        ("train run flights_train", "train"),
        ("total", "total"),
    ):
        print(f"{label:34}{t[key]:9.1f}")
    print(
        f"backfill: create -> last run ended {fmt(ingest['runs_s'])} s, "
        f"{result['backfill_s_per_span']:.2f} s per span; runs: {ingest['succeeded']} succeeded, "
        f"{ingest['failed']} failed"
        + (f" ({', '.join(sorted(ingest['failed_spans']))})" if ingest["failed_spans"] else "")
    )
    print(f"  {'ingest task':16}{'mean run s':>11}{'mean queued s':>15}  states")
    for task_id, s in ingest["tasks"].items():
        states = ", ".join(f"{k} {v}" for k, v in s["states"].items())
        print(
            f"  {task_id:16}{fmt(s['mean_run_s'], '.2f'):>11}{fmt(s['mean_queued_s'], '.2f'):>15}  {states}"
        )
    print(
        f"train run {train['run_id']}: {train['state']} in {fmt(train['run_s'])} s; "
        f"{train['spans_used']} spans used ({train['spans_skipped']} skipped or missing), "
        f"rows {train['rows']}, "
        f"AUC {fmt(train['auc'], '.4f')}, blessed {train['blessed']}"
    )
    print(f"  {'train task':16}{'state':>10}{'run s':>9}{'wait s':>8}  (wait: since the task before ended)")
    for task_id, s in train["tasks"].items():
        print(f"  {task_id:16}{s['state'] or '-':>10}{fmt(s['run_s']):>9}{fmt(s['wait_s']):>8}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="first", default="2013-01-01", help="first span (default 2013-01-01)")
    parser.add_argument("--to", dest="last", default="2013-12-31", help="last span (default 2013-12-31)")
    parser.add_argument("--window", type=int, default=90, help="spans in the train run's window (default 90)")
    parser.add_argument(
        "--max-active-runs", type=int, help="backfill create --max-active-runs (default: the CLI's, 10)"
    )
    parser.add_argument("--timeout", type=float, default=7200, help="per wait (backfill, train run), seconds")
    parser.add_argument("--workdir", type=Path, default=WORK, help=f"default {WORK}")
    args = parse_args(parser, first="2013-01-01", last="2013-01-02", window=2)
    first, last = dt.date.fromisoformat(args.first).isoformat(), dt.date.fromisoformat(args.last).isoformat()

    # SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C, through the `finally` that stops Airflow
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = args.workdir.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = airflow_env(work)
    steps, wait = Steps(env, work / "year.log"), airflow_wait
    services = ["bash", str(SCRIPTS / "airflow_services.sh")]
    progress(f"work folder {work}; Airflow on {env['AIRFLOW__API__BASE_URL']}; CLI output in {steps.log}")
    times: dict[str, float] = {}
    t0 = time.monotonic()

    def timed(name: str, since: float) -> float:
        now = time.monotonic()
        times[name] = round(now - since, 1)
        progress(f"[{now - t0:6.0f} s] {name}: {times[name]:.1f} s")
        return now

    ml = [sys.executable, "-m", "ml"]
    progress(f"landing spans {first}..{last}")
    steps.quiet([*ml, "landing", "--pipeline", PIPELINE, "--from", first, "--to", last, "--serving-log"])
    t = timed("landing", t0)
    steps.quiet(["bash", str(SCRIPTS / "airflow_setup.sh")])
    t = timed("setup", t)
    try:
        steps.quiet([*services, "start"], timeout=600)
        api = wait.Api(env["AIRFLOW__API__BASE_URL"])
        wait_for_dags(api, [INGEST, TRAIN])
        t = timed("services", t)

        create = [
            "airflow",
            "backfill",
            "create",
            "--dag-id",
            INGEST,
            "--from-date",
            first,
            "--to-date",
            last,
        ]
        create += ["--dag-run-conf", '{"retrain": false}']
        create += ["--max-active-runs", str(args.max_active_runs)] if args.max_active_runs else []
        progress(" ".join(create))
        created = dt.datetime.now(dt.UTC)
        for attempt in range(3):
            try:
                steps.quiet(create)
                break
            except SystemExit as exc:  # SQLite: "database is locked" when a read turns into a write
                if attempt == 2 or "database is locked" not in str(exc) or wait.open_backfills(api, INGEST):
                    raise
                progress("backfill create hit 'database is locked'; again")
        steps.wait(["--dag-id", INGEST, "--from", first, "--to", last], args.timeout)
        t = timed("backfill", t)

        run_id = f"year__{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
        conf = json.dumps({"span": last, "window": args.window})
        progress(f"airflow dags trigger {TRAIN} --run-id {run_id} --conf '{conf}'")
        steps.quiet(["airflow", "dags", "trigger", TRAIN, "--run-id", run_id, "--conf", conf])
        steps.wait(["--dag-id", TRAIN, "--run-id", run_id, "--poll", "1"], args.timeout)
        timed("train", t)
        times["total"] = round(time.monotonic() - t0, 1)

        result = {
            "date": dt.date.today().isoformat(),
            "from": first,
            "to": last,
            "window": args.window,
            "cpus": os.cpu_count(),
            "executor": env["AIRFLOW__CORE__EXECUTOR"].rsplit(".", 1)[-1],
            "parallelism": int(env["AIRFLOW__CORE__PARALLELISM"]),
            "times_s": times,
            "ingest": ingest_summary(api, wait, first, last, created),
            "train": train_summary(api, run_id),
        }
        # the backfill's own time: from `backfill create` to its last run's end (the wait step
        # also polls every 5 s and waits for the scheduler to close the backfill)
        backfill_s = result["ingest"]["runs_s"] or times["backfill"]
        result["backfill_s_per_span"] = round(backfill_s / result["ingest"]["spans"], 2)
    finally:
        stop = time.monotonic()
        subprocess.run([*services, "stop"], cwd=ROOT, env=env, capture_output=True, timeout=180)
        progress(f"Airflow stopped ({time.monotonic() - stop:.1f} s)")
    print_table(result)
    print(json.dumps(result, sort_keys=True))
    return 0 if result["train"]["state"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
