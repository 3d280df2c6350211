"""Run one bench's smoke mode (`bench/<name>.py --smoke`: tiny sizes, the same code, its
table, exit 0 whatever its targets) and check its output: the tests in test_bench_*.py.

Each runs as a subprocess from the repository root in an environment without the session's
AIRFLOW_* and ML_* variables (the Airflow benches set up their own home, port and roots), its
roots and work folders (ML_BENCH_ROOT) in the test's tmp dir. The benches that start Airflow's
scheduler or train through TFT/TFMA take a minute or two each: `slow`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"

# bench -> what its stdout must hold (its table's header, or its result lines)
FAST = {
    "dag_parse": ["parse s  naive s naive/ours", "slowest DAG file:"],
    "live_alarms": ["n | no change: alarms  (target)"],
    "ml_view_load": ["route", "median s   max s     KiB", "spans in"],
    "results_read": ["ms  vs files", "slowest store read"],
    "scaffold_memory": ["growth ratio (large / small), chunked =", "peak ratio (chunked / whole)"],
    "stats_throughput": ["case  mode            rows  seconds", "memory/pyarrow throughput ratio"],
    "train_first_fit": ["skip     first fit:", "ratio convert/skip:"],
}
SLOW = {  # the Airflow scheduler, or TFT/TFMA training
    "backfill": ["total s   s/span  year min", "ratio (project / (no-op + bare work)) ="],
    "monitor": ["monitor (join+TFMA+CBPE+store)", "clients batch | direct req/s"],
    "train_scale": ["(transform+train)/bare evaluate/bare", "+ one shared histogram"],
    "year_under_airflow": ["step                                 wall s", "train task"],
}
HELPERS = {"bare_proxy": "monitor", "load_client": "monitor"}  # run by that bench's smoke


def run_smoke(name: str, tmp_path: Path) -> None:
    """`bench/<name>.py --smoke` in a clean environment; fails with its output tails."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "ML_"))}
    env |= {"ML_BENCH_ROOT": str(tmp_path / "bench"), "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env |= {f"ML_{root.upper()}_ROOT": str(tmp_path / root) for root in ("data", "artifact", "serving")}
    timeout = 600 if name in SLOW else 300
    argv = [sys.executable, str(BENCH / f"{name}.py"), "--smoke"]
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()  # the Airflow benches stop the services they started on SIGTERM
        out, err = proc.communicate(timeout=240)
        pytest.fail(f"{name} --smoke ran over {timeout} s\n{out[-3000:]}\n{err[-5000:]}")
    finally:
        proc.kill()  # nothing when it has exited
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out[-3000:]}\n{err[-5000:]}"
    missing = [line for line in FAST.get(name) or SLOW[name] if line not in out]
    assert not missing, f"{name}: no {missing} in its output:\n{out[-3000:]}"
