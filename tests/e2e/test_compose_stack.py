"""`make compose-e2e`: the production docker-compose.yml, really running, end to end.

Starts the same docker-compose.yml on locally built images (docker/build-compose-images.sh:
PostgreSQL, Redis and the socket proxy from Debian packages, the Airflow image from
docker/airflow.Dockerfile on a local stand-in for apache/airflow, the TF Serving TEST DOUBLE as
`tensorflow_model_server`), plus docker/compose-e2e.yml (runs come from triggers, not cron).
Then, on two Celery workers (`--scale airflow-worker=2`):

  compose refuses without the .env secrets; airflow-init runs; published ports are 127.0.0.1
  only and no log-server port is published; login through `/auth/token`; the socket proxy
  refuses exec/build/volumes/info (403) and lets a trainer container be created, started,
  waited for and read; 6 spans landed into ML_HOST_ROOT are ingested by flights_ingest on both
  workers (the task instances' hostnames, from the REST API); one worker is killed mid-ingest of
  one span and stays down: that task is retried on the other worker, every span succeeds and
  every span's examples are byte-identical to an undisturbed ingest; flights_train trains in a
  trainer container started through the proxy; push writes version 1 and models.config; the
  serving container loads it and `:predict` through the prediction-logger on 127.0.0.1:8511
  answers; TF Serving itself is refused from the host (8501, 8500) and from a container off its
  network, and the logger refuses a model it does not log; the ML view's routes
  answer the logged-in user and refuse anonymous requests; `docker compose down -v` at the end
  (also on failure, after the relevant container logs and task logs are printed).

Every wait polls with a deadline. Knobs: E2E_KEEP=1 leaves the stack up, E2E_FAULTS=0 skips
the fault injections, E2E_TIMEOUT (s per DAG run, default 900).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ml.serving import tf_serving_client as serving_client

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = Path(__file__).resolve().parent / "compose_programs"  # run in the containers: python -c

pytestmark = [
    pytest.mark.slow,
    pytest.mark.docker,
    pytest.mark.skipif(
        os.environ.get("ML_COMPOSE_E2E") != "1",
        reason="the compose stack end to end: `make compose-e2e` (ML_COMPOSE_E2E=1) runs it",
    ),
]

PROJECT = "mlct-e2e"
PIPELINE = "flights"
# 6 spans, ingested on WORKERS Celery workers (4 runs at a time: INGEST_MAX_ACTIVE_RUNS)
SPANS = tuple(f"2013-01-{day:02d}" for day in range(1, 7))
WORKERS = 2
# Train on the window ending at the third span (window_spans counts back from it): 3 spans, as
# before the e2e ingested 6. They are little data: with training.epochs (3) the model loses to the
# logistic-regression benchmark (AUC 0.844 vs 0.853) and is rightly not pushed; 10 epochs reach 0.911.
TRAIN_SPAN = SPANS[2]
TRAIN_EPOCHS = 10
SECOND_TRAIN_RUN = "e2e_train_2"
API = "http://127.0.0.1:8080"
LOGGER = "http://127.0.0.1:8511"  # the prediction-logger service: TF Serving's URLs, logged
SERVING = LOGGER  # from the host, TF Serving is reachable only through the logger
TF_SERVING_PORTS = (8501, 8500)  # REST, gRPC: published by no service
IN_STACK_SERVING = "http://tf-serving:8501"  # ML_SERVING_URL in docker-compose.yml
AIRFLOW_UID = "50000"
RUN_TIMEOUT = float(os.environ.get("E2E_TIMEOUT", "900"))
SECRETS = (
    "POSTGRES_PASSWORD",
    "REDIS_PASSWORD",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_SECRET_KEY",
    "AIRFLOW_ADMIN_PASSWORD",
)
LOG_SERVER_PORTS = {8793, 8794}
T0 = time.monotonic()


def program(name: str) -> str:
    """The source of a probe program run inside a container (`python -c`), from compose_programs/."""
    return (PROGRAMS / f"{name}.py").read_text()


def step(message: str) -> None:
    print(f"\n==> [{time.monotonic() - T0:6.0f}s] {message}", flush=True)


class E2EFailure(AssertionError):
    pass


def check(ok: bool, message: str) -> None:
    if not ok:
        raise E2EFailure(message)
    print(f"    ok: {message}", flush=True)


def poll(what: str, probe: Callable[[], Any], timeout: float, every: float = 3.0) -> Any:
    """`probe()` until it returns something truthy; E2EFailure after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise E2EFailure(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


# ---- docker compose
def compose_cli() -> list[str]:
    for cmd in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(cmd[0]) and subprocess.run([*cmd, "version"], capture_output=True).returncode == 0:
            return cmd
    raise SystemExit("error: neither `docker compose` nor `docker-compose` is installed")


class Stack:
    def __init__(self, env_file: Path, host_root: Path):
        self.env_file, self.host_root = env_file, host_root
        self.cli = compose_cli()
        # the stack's variables come from the env file only, never from this shell
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ML_", "AIRFLOW_", "COMPOSE_", "POSTGRES_", "REDIS_", "TF_SERVING"))
            and k not in ("DOCKER_SOCKET", "DOCKER_SOCKET_PROXY_IMAGE")
        }

    def argv(self, *args: str, env_file: Path | None = None) -> list[str]:
        return [
            *self.cli,
            "--project-name",
            PROJECT,
            "--project-directory",
            str(ROOT),
            "--env-file",
            str(env_file or self.env_file),
            "-f",
            str(ROOT / "docker-compose.yml"),
            "-f",
            str(ROOT / "docker" / "compose-e2e.yml"),
            *args,
        ]

    def run(self, *args: str, timeout: float = 600, check: bool = True, env_file: Path | None = None):
        out = subprocess.run(
            self.argv(*args, env_file=env_file),
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            cwd=ROOT,
        )
        if check and out.returncode != 0:
            raise E2EFailure(f"docker compose {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
        return out

    def running(self, service: str) -> list[str]:
        """The service's running containers (docker-compose 1.29's `ps` also lists stopped ones)."""
        labels = [
            f"label=com.docker.compose.{k}={v}" for k, v in (("project", PROJECT), ("service", service))
        ]
        out = docker("ps", "-q", "--no-trunc", "--filter", labels[0], "--filter", labels[1])
        return sorted(out.stdout.split())

    def container(self, service: str) -> str:
        ids = self.running(service)
        if not ids:
            raise E2EFailure(f"no running container for service {service}")
        return ids[0]

    def containers(self) -> list[str]:
        return self.run("ps", "-q").stdout.split()

    def logs(self, *services: str, tail: int = 80) -> None:
        out = self.run("logs", "--no-color", f"--tail={tail}", *services, check=False, timeout=120)
        print(out.stdout[-30000:], out.stderr[-3000:], sep="\n", flush=True)


def docker(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise E2EFailure(f"docker {' '.join(args)} failed: {out.stderr.strip()}")
    return out


# ---- HTTP
def http(method: str, url: str, body: Any = None, token: str | None = None, timeout: float = 60):
    """(status, parsed JSON or text); connection errors -> (0, message)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        return 0, str(exc)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


class Airflow:
    def __init__(self, token: str):
        self.token = token

    def api(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        status, out = http(method, f"{API}/api/v2{path}", body, self.token)
        if status != expect:
            raise E2EFailure(f"{method} /api/v2{path} -> {status} (expected {expect}): {out}")
        return out

    def trigger(self, dag_id: str, run_id: str, conf: dict) -> None:
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf}
        self.api("POST", f"/dags/{dag_id}/dagRuns", body)

    def tasks(self, dag_id: str, run_id: str) -> dict[str, dict]:
        out = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {t["task_id"]: t for t in out["task_instances"]}

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float = RUN_TIMEOUT) -> None:
        def done() -> str | None:
            state = self.run_state(dag_id, run_id)
            return state if state in ("success", "failed") else None

        state = poll(f"{dag_id} run {run_id}", done, timeout, every=5)
        if state != "success":
            self.print_failed_logs(dag_id, run_id)
            raise E2EFailure(f"{dag_id} run {run_id} ended {state}")
        check(True, f"{dag_id} {run_id}: success")

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}?full_content=true"
        status, out = http("GET", f"{API}/api/v2{path}", token=self.token)
        if isinstance(out, dict) and isinstance(out.get("content"), list):
            return "\n".join(
                str(e.get("event", e)) if isinstance(e, dict) else str(e) for e in out["content"]
            )
        return f"[{status}] {out}"

    def print_failed_logs(self, dag_id: str, run_id: str) -> None:
        for task_id, ti in self.tasks(dag_id, run_id).items():
            print(f"    {task_id}: {ti['state']} (try {ti['try_number']})")
            if ti["state"] in ("failed", "up_for_retry", "upstream_failed") and ti["try_number"]:
                print(f"---- log of {task_id} try {ti['try_number']}:")
                print(self.task_log(dag_id, run_id, task_id, ti["try_number"])[-6000:])

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        value = self.api("GET", path)["value"]
        return json.loads(value) if isinstance(value, str) and value[:1] in "{[" else value


# ---- set-up
def build_images() -> dict[str, str]:
    step("images (docker/build-compose-images.sh; cached by content hash)")
    out = subprocess.run(
        ["docker/build-compose-images.sh"], cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=3600
    )
    if out.returncode != 0:
        raise SystemExit("error: building the compose images failed (see above)")
    images = dict(line.split("=", 1) for line in out.stdout.split() if "=" in line)
    for name, tag in images.items():
        print(f"    {name}={tag}")
    return images


def write_env(path: Path, host_root: Path, images: dict[str, str], drop: str = "") -> Path:
    from cryptography.fernet import Fernet

    values = {
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "REDIS_PASSWORD": secrets.token_hex(16),
        "AIRFLOW_FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW_SECRET_KEY": secrets.token_hex(32),
        "AIRFLOW_ADMIN_PASSWORD": secrets.token_hex(12),
        "AIRFLOW_ADMIN_USER": "admin",
        "ML_HOST_ROOT": str(host_root),
        "AIRFLOW_UID": AIRFLOW_UID,
        "ML_TRAIN_RUNNER": "docker",
        **images,
    }
    values.pop(drop, None)
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    path.chmod(0o600)
    return path


def read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def land(host_root: Path) -> None:
    step(f"landing {len(SPANS)} spans into {host_root}/data")
    env = {**os.environ, "ML_DATA_ROOT": str(host_root / "data")}
    cmd = [sys.executable, "-m", "ml", "landing", "--pipeline", PIPELINE]
    cmd += ["--from", SPANS[0], "--to", SPANS[-1], "--serving-log"]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, timeout=600)
    subprocess.run(["chmod", "-R", "a+rX", str(host_root / "data")], check=True)  # uid 50000 reads


# ---- checks
def check_refuses_without_secrets(stack: Stack, tmp: Path, host_root: Path, images: dict) -> None:
    step("compose refuses to start without the .env secrets")
    for name in SECRETS:
        env_file = write_env(tmp / f"env-without-{name}", host_root, images, drop=name)
        out = stack.run("config", "-q", check=False, env_file=env_file)
        check(out.returncode != 0 and name in out.stderr, f"without {name}: refused, naming it")


def check_published_ports(stack: Stack) -> None:
    step("published ports: 127.0.0.1 only; no log-server port")
    published: list[tuple[str, str, str]] = []
    for cid in stack.containers():
        info = json.loads(docker("inspect", cid).stdout)[0]
        for port, bindings in (info["NetworkSettings"]["Ports"] or {}).items():
            for b in bindings or []:
                published.append((info["Name"].lstrip("/"), port, b["HostIp"]))
    print("    " + "\n    ".join(f"{n} {p} -> {ip}" for n, p, ip in published))
    check(bool(published), "some ports are published")
    check(all(ip == "127.0.0.1" for _, _, ip in published), "every published port is on 127.0.0.1")
    ports = {int(p.split("/")[0]) for _, p, _ in published}
    check(ports == {8080, 8511}, f"published container ports are {sorted(ports)}")
    check(not ports & LOG_SERVER_PORTS, "log-server ports 8793/8794 are not published")


PROXY_PROBE = program("socket_proxy_probe")


def check_socket_proxy(stack: Stack) -> None:
    step("socket proxy (from a worker): exec/build/volumes/networks/info 403; trainer lifecycle works")
    worker = stack.container("airflow-worker")
    out = docker("exec", worker, "python", "-c", PROXY_PROBE, timeout=300).stdout
    result = json.loads(out.strip().splitlines()[-1])
    print(f"    {result}")
    check(result["ping"] == 200, "GET /_ping passes")
    for name in (
        "exec_start",
        "exec_inspect",
        "build",
        "volume_create",
        "volumes_list",
        "network_create",
        "info",
    ):
        check(result[name] == 403, f"{name}: 403 from the proxy")
    check(result.get("create") == 201, "POST /containers/create (trainer image): 201")
    check(result.get("start") == 204, "start: 204")
    check(result.get("wait") == 200 and result.get("exit_code") == 0, "wait: 200, exit code 0")
    check(result.get("logs") == 200 and result.get("logs_have_usage"), "logs: 200, the trainer's usage text")
    check(result.get("remove") == 204, "remove: 204")
    volumes = docker("volume", "ls", "-q", "--filter", "name=e2e-should-not-exist").stdout.split()
    check(not volumes, "no volume was created")


def login(password: str) -> str:
    step("login through the REST API (/auth/token) with the .env admin password")
    status, out = http("POST", f"{API}/auth/token", {"username": "admin", "password": "wrong-password"})
    check(status in (400, 401, 403), f"a wrong password is refused ({status})")
    status, out = http("POST", f"{API}/auth/token", {"username": "admin", "password": password})
    check(
        status in (200, 201) and isinstance(out, dict) and "access_token" in out, f"token issued ({status})"
    )
    return out["access_token"]


def check_plugin_routes(token: str) -> None:
    step("ML view routes: the logged-in user gets them, anonymous requests are refused")
    for path in (
        "/ml-artifacts/",
        f"/ml-artifacts/{PIPELINE}/api/spans",
        f"/ml-artifacts/{PIPELINE}/api/models",
    ):
        status, out = http("GET", f"{API}{path}")
        check(status in (401, 403), f"anonymous GET {path}: {status}")
        status, out = http("GET", f"{API}{path}", token=token)
        check(status == 200, f"admin GET {path}: 200")
        if "/api/" in path:
            check(isinstance(out, list) and len(out) >= 1, f"{path}: {len(out)} row(s)")


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# ---- the pipeline
def short(hostname: str | None) -> str:
    """A task instance's `hostname` (Airflow's getfqdn) as the container's hostname."""
    return (hostname or "").split(".")[0]


def worker_hosts(stack: Stack) -> dict[str, str]:
    """{hostname: container id} of the running Celery workers. A container's hostname is its
    short id: distinct per worker, and what Airflow records as a task instance's `hostname` (the
    Celery node name is celery@<hostname>, as the service's healthcheck pings it)."""
    return {
        json.loads(docker("inspect", cid).stdout)[0]["Config"]["Hostname"]: cid
        for cid in stack.running("airflow-worker")
    }


def check_workers(stack: Stack) -> dict[str, str]:
    step(f"{WORKERS} Celery workers (docker compose up --scale airflow-worker={WORKERS})")
    hosts = worker_hosts(stack)
    running = stack.running("airflow-worker")
    check(
        len(running) == len(hosts) == WORKERS,
        f"{len(running)} worker containers running, hostnames {sorted(hosts)} (distinct)",
    )
    return hosts


def task_tries(airflow: Airflow, dag_id: str, run_id: str) -> list[dict]:
    """Every try of every task of a run (REST API: .../taskInstances/{task_id}/tries), each with
    the hostname it ran on."""
    out: list[dict] = []
    for task_id in airflow.tasks(dag_id, run_id):
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries"
        out += airflow.api("GET", path)["task_instances"]
    return out


def ingest(airflow: Airflow, stack: Stack, workers: dict[str, str], faults: bool) -> None:
    dag_id = f"{PIPELINE}_ingest"
    step(f"{dag_id} for {len(SPANS)} spans ({SPANS[0]} .. {SPANS[-1]}) on {len(workers)} Celery workers")
    for dag in (dag_id, f"{PIPELINE}_train"):
        url = f"{API}/api/v2/dags/{dag}"
        poll(f"DAG {dag} parsed", lambda u=url: http("GET", u, token=airflow.token)[0] == 200, 300)
        airflow.api("PATCH", f"/dags/{dag}", {"is_paused": False})
    runs = {f"e2e_ingest_{span}": span for span in SPANS}
    for run_id, span in runs.items():
        airflow.trigger(dag_id, run_id, {"span": span, "retrain": False})
    killed = kill_worker_mid_ingest(airflow, stack, workers, runs) if faults else None
    # the undisturbed reference, in a (surviving) worker, while the scheduler retries the killed task
    survivor = workers[killed["survivor"]] if killed else stack.container("airflow-worker")
    reference = reference_ingest(stack, survivor)
    wait = " (the killed task: the heartbeat timeout, then its retry)" if killed else ""
    step(f"waiting for the {len(runs)} {dag_id} runs{wait}")
    for run_id in runs:
        airflow.wait_run(dag_id, run_id)
    tries = {run_id: task_tries(airflow, dag_id, run_id) for run_id in runs}
    for run_id, ts in tries.items():
        ran = sorted((t["task_id"], t["try_number"], short(t["hostname"]), t["state"]) for t in ts)
        print(f"    {run_id}: " + ", ".join(f"{task}#{n}@{host}:{state}" for task, n, host, state in ran))
    hosts: dict[str, int] = {}
    for ts in tries.values():
        for t in ts:
            if t.get("hostname"):
                hosts[short(t["hostname"])] = hosts.get(short(t["hostname"]), 0) + 1
    check(
        set(hosts) == set(workers),
        f"the {len(runs)} spans' task tries ran on both workers (hostname: tries): {hosts}",
    )
    if killed:
        check_killed_span(stack, killed, tries[killed["run_id"]])
    check_identical_to_undisturbed(stack, reference, killed["span"] if killed else None)


def check_killed_span(stack: Stack, killed: dict, tries: list[dict]) -> None:
    run_id, host, survivor = killed["run_id"], killed["host"], killed["survivor"]
    ingest = {t["try_number"]: t for t in tries if t["task_id"] == "ingest"}
    frozen, last = ingest.get(killed["try"], {}), ingest[max(ingest)]
    check(
        short(frozen.get("hostname")) == host,
        f"{run_id}: ingest try {killed['try']} ran on {host}, the killed worker",
    )
    check(
        last["try_number"] > killed["try"]
        and last["state"] == "success"
        and short(last["hostname"]) == survivor,
        f"{run_id}: retried as try {last['try_number']} on {short(last['hostname'])}, "
        f"the surviving worker: {last['state']}",
    )
    check(
        killed["container"] not in stack.running("airflow-worker"),
        f"the killed worker {host} stayed down while every span finished",
    )
    left = sorted(p.name for p in span_folder(stack, killed["span"]).glob(".examples.tmp-*"))
    check(not left, f"the killed try's half-written {killed['temps']} was removed by the retry ({left})")


# Runs inside EVERY worker container at once, given the shared claim file's path and `<ti
# id>=<span folder>` pairs: waits for the task process of one of those task instances (the task
# runner titles itself `airflow worker -- <ti id>`). The first worker to see one claims the fault
# (creates the claim file with O_EXCL on the shared artifact root); the others exit untouched.
# The claimer SIGSTOPs the task, then lets it run 2 ms at a time until its half-written examples
# folder (`.examples.tmp-*`, ml/atomic.py) exists, and leaves it frozen there: the kill that
# follows lands in the middle of the write, whatever the timing. Prints what it froze, if any.
FREEZE_MID_WRITE = program("freeze_mid_write")


def kill_worker_mid_ingest(
    airflow: Airflow, stack: Stack, workers: dict[str, str], runs: dict[str, str]
) -> dict:
    """Freeze one ingest task in the middle of writing its examples, on whichever worker runs
    one first, then kill that worker's container and leave it down; returns what was killed."""
    dag_id = f"{PIPELINE}_ingest"

    def ingest_ids() -> dict[str, str] | None:
        ids = {r: airflow.tasks(dag_id, r).get("ingest", {}).get("id") for r in runs}
        return ids if all(ids.values()) else None

    ids = poll("the ingest task instances", ingest_ids, 120, every=1)
    folders = [f"{ti}={span_folder(stack, runs[r])}" for r, ti in ids.items()]
    claim = str(stack.host_root / "artifacts" / ".e2e-freeze-claim")
    procs = {
        host: subprocess.Popen(
            ["docker", "exec", cid, "python", "-c", FREEZE_MID_WRITE, claim, *folders],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for host, cid in workers.items()
    }
    outs = []
    for host, proc in procs.items():
        try:
            stdout, stderr = proc.communicate(timeout=660)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise E2EFailure(f"freezing an ingest task on {host} did not end within 660 s") from None
        if proc.returncode != 0:
            raise E2EFailure(f"freezing an ingest task on {host}: exit {proc.returncode}: {stderr[-2000:]}")
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    frozen = [out for out in outs if out["frozen"]]
    check(len(frozen) == 1, f"exactly one worker froze an ingest task: {[o['host'] for o in frozen]}")
    host = frozen[0]["host"]
    run_id = next(r for r, ti in ids.items() if ti == frozen[0]["ti"])
    ti = airflow.tasks(dag_id, run_id)["ingest"]
    check(
        ti["state"] == "running" and short(ti["hostname"]) == host and bool(frozen[0]["temps"]),
        f"{run_id}: its ingest (try {ti['try_number']}) is {ti['state']} on {short(ti['hostname'])}, "
        f"frozen (process {frozen[0]['pid']}) writing {frozen[0]['temps']}",
    )
    docker("kill", workers[host])
    step(f"FAULT: killed Celery worker {host} in the middle of {run_id}'s write; it stays down")
    # `docker kill` counts as a manual stop: `restart: always` leaves it down, as wanted here
    survivor = next(h for h in workers if h != host)
    return {
        "run_id": run_id,
        "span": runs[run_id],
        "host": host,
        "container": workers[host],
        "survivor": survivor,
        "try": ti["try_number"],
        "temps": frozen[0]["temps"],
    }


def span_folder(stack: Stack, span: str) -> Path:
    """The span's artifact folder (ml.spans.SpanPaths), at the same path in every container."""
    return stack.host_root / "artifacts" / PIPELINE / "spans" / span


REFERENCE_INGEST = program("reference_ingest")


def reference_ingest(stack: Stack, worker: str) -> dict[str, dict[str, str]]:
    """Every span ingested again, undisturbed, into another artifact root: {span: {"done": the
    DAG's examples folder, "reference": the reference's}}."""
    reference = Path(stack.host_root) / "artifacts" / ".e2e-reference"
    step(f"undisturbed reference: the {len(SPANS)} spans ingested again in a worker, into {reference}")
    argv = ["exec", worker, "python", "-c", REFERENCE_INGEST, PIPELINE, str(reference), *SPANS]
    return json.loads(docker(*argv, timeout=600).stdout.strip().splitlines()[-1])


def check_identical_to_undisturbed(
    stack: Stack, paths: dict[str, dict[str, str]], killed: str | None
) -> None:
    step("every span's examples vs the undisturbed reference")
    for span in SPANS:
        done, reference = Path(paths[span]["done"]), Path(paths[span]["reference"])
        check(done.parent == span_folder(stack, span), f"span {span}'s examples are in {done}")
        disturbed, undisturbed = tree_digest(done), tree_digest(reference)
        digest = hashlib.sha256(json.dumps(disturbed, sort_keys=True).encode()).hexdigest()[:12]
        note = " (its worker was killed mid-write)" if span == killed else ""
        check(
            bool(disturbed) and disturbed == undisturbed,
            f"span {span}{note}: {len(disturbed)} files byte-identical to the reference (sha256 {digest})",
        )


PROXY_LINE = re.compile(
    r' (\d{3}) \d+ .*"(?:GET|POST|DELETE|HEAD) (?:/v[\d.]+)?/containers/(?:[0-9a-f]{64}/)?(\w+)'
)


def proxy_log(stack: Stack) -> list[str]:
    return stack.run("logs", "--no-color", "docker-socket-proxy").stdout.splitlines()


def proxy_requests(lines: list[str]) -> dict[str, set[int]]:
    """{container endpoint: HTTP statuses} of the socket proxy's (haproxy's) request log lines."""
    out: dict[str, set[int]] = {}
    for line in lines:
        if match := PROXY_LINE.search(line):
            out.setdefault(match.group(2), set()).add(int(match.group(1)))
    return out


def restart_postgres_mid_run(airflow: Airflow, stack: Stack, run_id: str) -> None:
    def training() -> bool:
        return airflow.tasks(f"{PIPELINE}_train", run_id).get("train", {}).get("state") == "running"

    poll("the train task running", training, RUN_TIMEOUT, every=2)
    step("FAULT: docker compose restart postgres while the train task runs")
    stack.run("restart", "postgres", timeout=300)

    def api_back() -> bool:
        return http("GET", f"{API}/api/v2/dags/{PIPELINE}_train", token=airflow.token)[0] == 200

    poll("the API server reading the metadata DB again", api_back, 300)
    check(True, "PostgreSQL restarted; the API server reads the DB again")


def train(airflow: Airflow, stack: Stack, host_root: Path, faults: bool) -> dict:
    run_id = "e2e_train"
    step(f"flights_train for span {TRAIN_SPAN}: transform -> train (container via the proxy) -> push")
    seen = len(proxy_log(stack))  # the trainer's requests only, not the probe's
    conf = {"span": TRAIN_SPAN, "epochs": TRAIN_EPOCHS}
    airflow.trigger(f"{PIPELINE}_train", run_id, conf)
    if faults:  # a second train run at once: both reach push
        airflow.trigger(f"{PIPELINE}_train", SECOND_TRAIN_RUN, conf)
        restart_postgres_mid_run(airflow, stack, run_id)
    airflow.wait_run(f"{PIPELINE}_train", run_id, timeout=RUN_TIMEOUT * 2)
    if faults:
        check(http("GET", f"{API}/api/v2/version")[0] == 200, "the API server answers after the restart")
    if (state := airflow.tasks(f"{PIPELINE}_train", run_id)["push"]["state"]) != "success":
        blessing = json.loads(
            Path(airflow.xcom(f"{PIPELINE}_train", run_id, "evaluate")["blessing"]).read_text()
        )
        checks = [c["message"] for c in blessing["checks"] if not c["passed"]]
        raise E2EFailure(f"push {state}: the model was not blessed ({blessing['decided_by']}): {checks}")
    passed = proxy_requests(proxy_log(stack)[seen:])
    for endpoint, status in (("create", 201), ("start", 204), ("attach", 101), ("wait", 200)):
        check(
            endpoint in passed and status in passed[endpoint],
            f"the proxy passed the trainer's {endpoint} ({status})",
        )
    push = airflow.xcom(f"{PIPELINE}_train", run_id, "push")
    print(f"    push: {json.dumps(push)[:400]}")
    version_dir = Path(push["version_dir"])
    check(
        version_dir.is_dir() and (version_dir / "saved_model.pb").is_file(),
        f"version {push['version']} at {version_dir}",
    )
    config = (host_root / "serving" / "models.config").read_text()
    check(f'base_path: "{host_root}/serving/' in config, "models.config names the model's base path")
    result = {"push": push, "blessing": airflow.xcom(f"{PIPELINE}_train", run_id, "evaluate")["blessing"]}
    return check_second_train_run(airflow, run_id, result) if faults else result


def check_second_train_run(airflow: Airflow, first_run: str, first: dict) -> dict:
    """Two train runs triggered at once on the same spans: the second waits (max_active_runs=1,
    one push at a time in the ml_serving_push pool), trains the same model again (the same
    transform and weights digests: training is reproducible), is evaluated against the version
    the first pushed, equal on every metric, so blessed, and pushes the next version. Returns
    its result."""
    dag_id, version = f"{PIPELINE}_train", first["push"]["version"]
    step(f"the second train run ({SECOND_TRAIN_RUN}), triggered with the first")
    airflow.wait_run(dag_id, SECOND_TRAIN_RUN, timeout=RUN_TIMEOUT * 2)
    runs = {r: airflow.api("GET", f"/dags/{dag_id}/dagRuns/{r}") for r in (first_run, SECOND_TRAIN_RUN)}
    started, first_ended = runs[SECOND_TRAIN_RUN]["start_date"], runs[first_run]["end_date"]
    check(started >= first_ended, f"it started ({started}) after the first ended ({first_ended})")
    evaluated = airflow.xcom(dag_id, SECOND_TRAIN_RUN, "evaluate")
    blessing = json.loads(Path(evaluated["blessing"]).read_text())
    check(
        (blessing.get("baseline") or {}).get("version") == version,
        f"it was evaluated against the version the first pushed ({version}): blessed={blessing['blessed']}",
    )
    digests = {}
    for run in (first_run, SECOND_TRAIN_RUN):
        trained = airflow.xcom(dag_id, run, "train")
        digests[run] = (trained.get("transform_digest"), trained.get("weights_digest"))
    first_digests = digests[first_run]
    short = ", ".join(str(d)[:12] for d in first_digests)
    check(
        all(first_digests) and digests[SECOND_TRAIN_RUN] == first_digests,
        f"it rebuilt the same model (transform, weights digests: {short})",
    )
    state = airflow.tasks(dag_id, SECOND_TRAIN_RUN)["push"]["state"]
    check(blessing["blessed"] and state == "success", f"the same model is blessed again and pushed ({state})")
    push = airflow.xcom(dag_id, SECOND_TRAIN_RUN, "push")
    check(push["version"] == version + 1, f"it pushed version {push['version']} (unique)")
    return {"push": push, "blessing": evaluated["blessing"]}


def label_version(model: str, label: str) -> int | None:
    """The version TF Serving resolves `label` to, when AVAILABLE (the project's REST client)."""
    try:
        states = serving_client.model_status(SERVING, model, label=label)
    except serving_client.RequestFailed:
        return None
    return states[0]["version"] if states and states[0]["state"] == "AVAILABLE" else None


TF_SERVING_PROBE = program("tf_serving_probe")


def check_tf_serving_only_through_the_logger(stack: Stack, model: str) -> None:
    """No client can skip the prediction log: TF Serving answers only the logger and the workers."""
    import socket

    step("TF Serving only through the prediction-logger (ports unpublished, internal network)")
    for port in TF_SERVING_PORTS:
        with socket.socket() as sock:
            sock.settimeout(5)
            refused = sock.connect_ex(("127.0.0.1", port)) != 0
        check(refused, f"a request straight to TF Serving's port 127.0.0.1:{port} is refused")
    api = docker("exec", stack.container("airflow-apiserver"), "python", "-c", TF_SERVING_PROBE, model)
    seen = api.stdout.strip().splitlines()[-1]
    check(seen.startswith("unreachable"), f"from the API server (off the serving network): {seen}")
    worker = docker("exec", stack.container("airflow-worker"), "python", "-c", TF_SERVING_PROBE, model)
    seen = worker.stdout.strip().splitlines()[-1]
    check(seen == "reached", f"from a worker (push, status, smoke test): {seen}")
    status, out = http("POST", f"{LOGGER}/v1/models/not_logged:predict", {"instances": [1.0]})
    check(status == 404 and "not logged here" in str(out), f"a model the logger does not log: {status}")


def check_serving(result: dict) -> None:
    push = result["push"]
    model, version = push["model"], int(push["version"])
    step(f"serving through {SERVING}: {model} version {version} labelled stable and canary, :predict answers")
    check(push["labels"] == {"canary": version, "stable": version}, f"push labelled it {push['labels']}")
    for label in ("canary", "stable"):
        poll(f"/labels/{label} -> {version}", lambda lb=label: label_version(model, lb) == version, 120)
        check(True, f"/v1/models/{model}/labels/{label} resolves to AVAILABLE version {version}")
    from ml.config import load_pipeline
    from ml.model.blessing import Blessing
    from ml.model.signatures import RAW_SIGNATURE
    from ml.serving.push import smoke_instances

    blessing = Blessing.read(Path(result["blessing"]))
    instances = smoke_instances(blessing, load_pipeline(PIPELINE).label, 3)
    body = {"signature_name": RAW_SIGNATURE, "instances": instances}  # raw named features
    for path in (f"/v1/models/{model}/labels/stable:predict", f"/v1/models/{model}:predict"):
        status, out = http("POST", f"{SERVING}{path}", body, timeout=120)
        predictions = out.get("predictions") if isinstance(out, dict) else None
        check(
            status == 200 and isinstance(predictions, list) and len(predictions) == 3,
            f"{path} -> {status} {predictions if predictions is not None else out}",
        )


def remove_host_root(tmp: Path, images: dict[str, str]) -> None:
    """The containers wrote as uid 50000: removed from inside a container (no sudo needed)."""
    image = images["POSTGRES_IMAGE"]
    docker("run", "--rm", "--entrypoint", "rm", "-v", f"{tmp}:/e2e", image, "-rf", "/e2e/root", check=False)
    shutil.rmtree(tmp, ignore_errors=True)


KILLED_PUSH = program("killed_push")


def ml_in_worker(stack: Stack, *args: str, code: str | None = None) -> subprocess.CompletedProcess:
    worker = stack.container("airflow-worker")
    argv = ["python", "-c", code, *args] if code else ["python", "-m", "ml", *args]
    return docker("exec", worker, *argv, timeout=900, check=False)


def check_push_faults(stack: Stack, result: dict) -> None:
    push, old_blessing = result["push"], result["blessing"]
    model, base = push["model"], Path(push["version_dir"]).parent
    source = push_source(push)
    step(f"a fresh blessing for {source} against the live version (evaluate --baseline auto)")
    output = str(stack.host_root / "artifacts" / PIPELINE / "evaluations" / "e2e-against-live")
    evaluate = [
        "evaluate",
        "--pipeline",
        PIPELINE,
        "--model",
        source,
        "--baseline",
        "auto",
        "--output",
        output,
    ]
    out = ml_in_worker(stack, *evaluate)
    check(
        out.returncode == 0, f"evaluate against version {push['version']}: exit {out.returncode}{tail(out)}"
    )
    blessing = json.loads(out.stdout.strip().splitlines()[-1])["blessing"]
    config = (base.parent / "models.config").read_bytes()
    versions = sorted(p.name for p in base.iterdir() if p.name.isdigit())

    step("FAULT: the push process SIGKILLed in the middle of its SavedModel copy")
    out = ml_in_worker(stack, "push", *push_args(source, blessing), code=KILLED_PUSH)
    check(out.returncode in (-9, 137), f"the push was killed (exit {out.returncode})")
    folders = sorted(p.name for p in base.iterdir())
    check([f for f in folders if f.isdigit()] == versions, f"no half version visible: {folders}")
    check(any(f.startswith(".push-tmp-") for f in folders), "the half copy is a hidden .push-tmp-* folder")
    check((base.parent / "models.config").read_bytes() == config, "models.config unchanged")
    check(
        label_version(model, "stable") == push["version"],
        f"stable still resolves to version {push['version']}",
    )

    step("the push again: a new version, the killed push's half copy removed")
    out = ml_in_worker(stack, "push", *push_args(source, blessing))
    check(out.returncode == 0, f"push again: exit {out.returncode}{tail(out)}")
    second = json.loads(out.stdout.strip().splitlines()[-1])
    first, version = push["version"], second["version"]
    check(version == first + 1, f"version {version} (unique)")
    check(bool(second["stale_copies_removed"]), f"removed {second['stale_copies_removed']}")
    check(second["labels"] == {"canary": version, "stable": version}, f"labels {second['labels']}")
    check(label_version(model, "stable") == version, f"stable resolves to version {version}")
    check(label_version(model, "canary") == version, f"canary resolves to version {version}")
    check(
        {first, version} <= set(served_versions(model)),
        f"versions {first} and {version} both loaded (AVAILABLE)",
    )

    step("a push whose blessing predates the live version (a second concurrent train run's)")
    out = ml_in_worker(stack, "push", *push_args(source, old_blessing))
    check(out.returncode != 0 and "blessing-stale" in out.stderr, f"refused: {out.stderr.strip()[-300:]}")
    check(label_version(model, "stable") == version, f"stable still resolves to version {version}")

    step(f"rollback: stable back to version {first}, a label move (no copy, {version} stays loaded)")
    out = ml_in_worker(stack, "rollback", "--pipeline", PIPELINE, "--serving-url", IN_STACK_SERVING)
    check(out.returncode == 0, f"rollback: exit {out.returncode}{tail(out)}")
    moved = json.loads(out.stdout.strip().splitlines()[-1])
    check(moved["stable"] == first and moved["previous_stable"] == version, f"rollback: {moved['labels']}")
    check(label_version(model, "stable") == first, f"stable resolves to version {first}")
    check({first, version} <= set(served_versions(model)), f"versions {first} and {version} still loaded")
    out = ml_in_worker(stack, "serving-status", "--pipeline", PIPELINE, "--serving-url", IN_STACK_SERVING)
    check(out.returncode == 0, f"serving-status: exit {out.returncode}{tail(out)}")
    status = json.loads(out.stdout.strip().splitlines()[-1])
    answered = status["tf_serving"]["labels/stable"][0]["version"]
    check(
        status["labels"] == moved["labels"] and status["labels"]["stable"] == answered == first,
        f"serving-status: labels {status['labels']}, TF Serving's /labels/stable -> version {answered}",
    )


def served_versions(model: str) -> list[int]:
    states = serving_client.model_status(SERVING, model)
    return sorted(s["version"] for s in states if s["state"] == "AVAILABLE")


def push_args(source: str, blessing: str) -> list[str]:
    """`ml push` as the DAG's push task runs it: through TF Serving's labels (canary, then stable)."""
    return [
        "--pipeline",
        PIPELINE,
        "--model",
        source,
        "--blessing",
        blessing,
        "--serving-url",
        IN_STACK_SERVING,
    ]


def tail(out: subprocess.CompletedProcess) -> str:
    """The end of a failed command's stderr, for the failure message."""
    return "" if out.returncode == 0 else f"\n{out.stderr[-3000:]}"


def push_source(push: dict) -> str:
    """The model folder the push copied (recorded in the version's push metadata)."""
    metadata = Path(push["version_dir"]) / "assets.extra" / "push_metadata.json"
    return json.loads(metadata.read_text())["source_model_dir"]


# ---- main
def check_prediction_logger(stack: Stack, host_root: Path, result: dict) -> None:
    """Requests stream through the prediction-logger from 4 threads; its container is killed
    mid-stream; every request that got its answer is in the span's log with its id and version."""
    import threading

    from ml.config import load_pipeline
    from ml.model.blessing import Blessing
    from ml.model.signatures import RAW_SIGNATURE
    from ml.serving.prediction_log import read_span, score_of
    from ml.serving.push import smoke_instances

    model, version = result["push"]["model"], int(result["push"]["version"])
    step(
        f"prediction-logger on {LOGGER}: :predict logged; killed mid-stream, no acknowledged prediction lost"
    )
    poll("the prediction-logger", lambda: http("GET", f"{LOGGER}/v1/models/{model}")[0] == 200, 180)
    blessing = Blessing.read(Path(result["blessing"]))
    instances = smoke_instances(blessing, load_pipeline(PIPELINE).label, 40)
    url = f"{LOGGER}/v1/models/{model}/labels/stable:predict"
    acked: dict[str, float] = {}
    total = 4 * 300

    def client(worker: int) -> None:
        for i in range(worker, total, 4):
            rid = f"e2e-{i}"
            body = json.dumps({"signature_name": RAW_SIGNATURE, "instances": [instances[i % len(instances)]]})
            request = urllib.request.Request(
                url, body.encode(), {"Content-Type": "application/json", "X-Request-Id": rid}
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as resp:
                    acked[rid] = float(json.loads(resp.read())["predictions"][0][0])
            except (OSError, ValueError):
                return

    threads = [threading.Thread(target=client, args=(w,), daemon=True) for w in range(4)]
    for t in threads:
        t.start()
    poll("40 acknowledged predictions", lambda: len(acked) >= 40, 120, every=0.05)
    docker("kill", stack.container("prediction-logger"))
    for t in threads:
        t.join(timeout=60)
    check(40 <= len(acked) < total, f"{len(acked)} of {total} requests answered before the kill")
    folders = sorted((host_root / "data" / f"{PIPELINE}_predictions").glob("span=*"))
    logged = {p.request_id: p for f in folders for p in read_span(f)}
    missing = sorted(set(acked) - set(logged))
    check(
        not missing,
        f"every acknowledged request id is in the log ({len(logged)} logged, missing {missing[:5]})",
    )
    check(
        all(logged[r].version == version and logged[r].label == "stable" for r in acked),
        f"each logged with version {version} under label stable",
    )
    check(
        all(abs(score_of(logged[r], "probabilities") - s) < 1e-6 for r, s in acked.items()),
        "each with the score the client got",
    )
    stack.run("up", "-d", "prediction-logger")
    poll("the restarted prediction-logger", lambda: http("GET", f"{LOGGER}/v1/models/{model}")[0] == 200, 180)


@dataclass
class World:
    """The running stack and what each test leaves for the next (they run in file order)."""

    stack: Stack
    env_file: Path
    host_root: Path
    faults: bool
    token: str = ""
    airflow: Airflow | None = None
    workers: dict[str, str] = field(default_factory=dict)
    result: dict = field(default_factory=dict)


@pytest.fixture(scope="module")
def world(request) -> Iterator[World]:
    """Images built, compose refusing without secrets, the spans landed, the stack up with
    WORKERS Celery workers and airflow-init done; down -v at the end (after the containers'
    logs when a test failed; E2E_KEEP=1 leaves it up)."""
    images = build_images()
    tmp = Path(tempfile.mkdtemp(prefix="mlct-e2e-"))
    host_root = tmp / "root"
    host_root.mkdir()
    tmp.chmod(0o755)
    env_file = write_env(tmp / "env", host_root, images)
    stack = Stack(env_file, host_root)
    failed_before = request.session.testsfailed
    try:
        stack.run("down", "-v", "--remove-orphans", check=False)  # a previous run's leftovers
        check_refuses_without_secrets(stack, tmp, host_root, images)
        land(host_root)
        step(f"docker compose up -d --scale airflow-worker={WORKERS} (airflow-init first, then the stack)")
        stack.run("up", "-d", "--scale", f"airflow-worker={WORKERS}", timeout=1200)
        init = json.loads(
            docker("inspect", stack.run("ps", "-a", "-q", "airflow-init").stdout.split()[0]).stdout
        )[0]
        check(init["State"]["ExitCode"] == 0, "airflow-init completed successfully")
        poll("the API server", lambda: http("GET", f"{API}/api/v2/version")[0] == 200, 300)
        yield World(stack, env_file, host_root, faults=os.environ.get("E2E_FAULTS", "1") != "0")
    finally:
        if request.session.testsfailed > failed_before or sys.exc_info()[0] is not None:
            step("container states and logs")
            print(stack.run("ps", "-a", check=False).stdout)
            stack.logs(
                "airflow-init",
                "airflow-scheduler",
                "airflow-worker",
                "docker-socket-proxy",
                "tf-serving",
                "prediction-logger",
            )
        if os.environ.get("E2E_KEEP") == "1":
            print(f"stack left up (E2E_KEEP=1): {' '.join(stack.argv('down', '-v'))}")
        else:
            step("docker compose down -v")
            stack.run("down", "-v", "--remove-orphans", check=False, timeout=600)
            docker("container", "prune", "-f", "--filter", "label=ml.trainer=1", check=False)
            remove_host_root(tmp, images)
        step(f"compose e2e done in {time.monotonic() - T0:.0f} s")


def test_only_the_api_and_the_logger_are_published_on_localhost(world):
    check_published_ports(world.stack)


def test_login_and_two_celery_workers(world):
    world.token = login(read_env(world.env_file)["AIRFLOW_ADMIN_PASSWORD"])
    world.airflow = Airflow(world.token)
    world.workers = check_workers(world.stack)


def test_the_socket_proxy_refuses_all_but_the_trainer_lifecycle(world):
    check_socket_proxy(world.stack)


def test_spans_ingest_on_both_workers_and_survive_a_killed_worker(world):
    assert world.airflow is not None, "needs the login test"
    ingest(world.airflow, world.stack, world.workers, world.faults)


def test_train_in_a_trainer_container_then_push_and_serve(world):
    assert world.airflow is not None, "needs the login test"
    world.result = train(world.airflow, world.stack, world.host_root, world.faults)
    check_serving(world.result)


def test_tf_serving_answers_only_through_the_prediction_logger(world):
    assert world.result, "needs the train test"
    check_tf_serving_only_through_the_logger(world.stack, world.result["push"]["model"])


def test_the_prediction_logger_logs_every_answered_request(world):
    assert world.result, "needs the train test"
    check_prediction_logger(world.stack, world.host_root, world.result)


def test_a_killed_or_refused_push_leaves_serving_as_it_was(world):
    if not world.faults:
        pytest.skip("E2E_FAULTS=0: no fault injection")
    assert world.result, "needs the train test"
    check_push_faults(world.stack, world.result)


def test_the_ml_view_answers_the_logged_in_user_only(world):
    check_plugin_routes(world.token)
