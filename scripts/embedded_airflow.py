"""The embedded Airflow's environment for Python callers (tests, benches): one source of truth.

`embedded_env(base)` is what `source scripts/airflow_env.sh` exports over `base` (anything `base`
already sets wins, as in the shell); `free_port()` a port for a private API server;
`wait_for_dags(api, ids)` until the dag-processor has handed those DAGs to the API server.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def embedded_env(base: Mapping[str, str]) -> dict[str, str]:
    """Every variable set after sourcing scripts/airflow_env.sh in an environment of `base`."""
    out = subprocess.run(
        ["bash", "-c", "source scripts/airflow_env.sh && env -0"],
        cwd=ROOT,
        env=dict(base),
        check=True,
        capture_output=True,
    ).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_dags(api, dag_ids: list[str], timeout: float = 300) -> None:
    """Poll `api` (scripts/airflow_wait.Api) until each DAG is known; exit naming the one that is not."""
    deadline = time.monotonic() + timeout
    for dag_id in dag_ids:
        while True:
            try:
                api.get(f"/api/v2/dags/{dag_id}")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{dag_id} never reached the API (see the dag-processor log)") from None
                time.sleep(1)
