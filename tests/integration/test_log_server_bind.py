"""The task-log servers' listen address (plugins/airflow_local_settings.py): with
ML_LOG_SERVER_HOST=127.0.0.1 (what `make airflow` sets) Airflow's own `serve_logs` - the function
the scheduler and the triggerer start - listens on 127.0.0.1 only; without it, on every
interface (Airflow's default, kept in compose)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVE = (
    "import airflow, sys; from airflow.utils.serve_logs import serve_logs; serve_logs(port=int(sys.argv[1]))"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> set[str]:
    """Local addresses of the TCP sockets listening on `port` (from /proc/net/tcp{,6})."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                found.add(address)
    return found


@pytest.mark.parametrize(
    ("host", "expected"),
    [("127.0.0.1", {"0100007F"}), (None, {"00000000", "00000000000000000000000000000000"})],
)
def test_log_server_address(tmp_path, host, expected):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "ML_LOG_SERVER_HOST"}
    env |= {
        "AIRFLOW_HOME": str(tmp_path),
        "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    if host:
        env["ML_LOG_SERVER_HOST"] = host
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(port)], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not listening(port):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, f"no log server on :{port} after 120 s"
            time.sleep(0.5)
        assert listening(port) & expected and not listening(port) - expected, listening(port)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
