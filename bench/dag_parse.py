"""DAG parse time: each file in dags/ vs a naive DAG file importing TensorFlow at top level.

    .venv/bin/python bench/dag_parse.py [--repeat 3] [--smoke]

Each measurement runs in a fresh interpreter that has already imported Airflow (as the
dag-processor has) and then times `DagBag(dag_folder=<file>)`: the cost every parse of that
file adds. Prints the median per file and, side by side from the same run, the naive file's
time and the ratio. Target: < 0.3 s per DAG file.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _smoke import exit_code, parse_args

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from scripts.embedded_airflow import embedded_env  # noqa: E402

TARGET_S = 0.3

NAIVE_DAG = '''"""The anti-pattern: heavy ML imports at DAG-file top level."""
import datetime as dt

import tensorflow as tf  # noqa: F401  (what every parse then pays for)
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG(dag_id="naive_tf_dag", schedule="@daily", start_date=dt.datetime(2013, 1, 1),
         catchup=False):
    EmptyOperator(task_id="noop")
'''

PROBE = """
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
import airflow.sdk  # warm: the dag-processor has Airflow loaded before it parses a file
t0 = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
elapsed = time.perf_counter() - t0
print(json.dumps({"seconds": elapsed, "dags": sorted(bag.dags), "errors": bag.import_errors}))
"""


def airflow_env() -> dict[str, str]:
    """This repo's Airflow settings (scripts/airflow_env.sh) with a throw-away AIRFLOW_HOME."""
    home = tempfile.mkdtemp(prefix="bench-airflow-home-")
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    env = embedded_env({**os.environ, "AIRFLOW_HOME": home})
    # measure the naive file even where it exceeds Airflow's default 30 s import timeout
    return {**env, "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "600"}


def parse_once(path: Path, env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["errors"]:
        raise SystemExit(f"{path}: import errors {result['errors']}")
    return result


def median_parse(path: Path, env: dict[str, str], repeat: int) -> tuple[float, list[str]]:
    runs = [parse_once(path, env) for _ in range(repeat)]
    return statistics.median(r["seconds"] for r in runs), runs[0]["dags"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per DAG file")
    parser.add_argument(
        "--naive-repeat",
        type=int,
        default=1,
        help="fresh processes for the naive file (each imports TensorFlow)",
    )
    args = parse_args(parser, repeat=1)
    env = airflow_env()
    with tempfile.TemporaryDirectory() as tmp:
        naive = Path(tmp) / "naive_tf_dag.py"
        naive.write_text(NAIVE_DAG)
        naive_s, _ = median_parse(naive, env, args.naive_repeat)
        print(f"{'file':<28} {'dags':>4} {'parse s':>8} {'naive s':>8} {'naive/ours':>10}")
        worst = 0.0
        for path in sorted((ROOT / "dags").glob("*.py")):
            seconds, dags = median_parse(path, env, args.repeat)
            worst = max(worst, seconds)
            print(
                f"{path.name:<28} {len(dags):>4} {seconds:>8.3f} {naive_s:>8.3f} {naive_s / seconds:>9.1f}x"
            )
        print(f"{naive.name:<28} {1:>4} {naive_s:>8.3f} {naive_s:>8.3f} {1.0:>9.1f}x")
    verdict = "OK" if worst < TARGET_S else "OVER TARGET"
    print(
        f"slowest DAG file: {worst:.3f} s (target < {TARGET_S} s): {verdict}; median of "
        f"{args.repeat} fresh processes per DAG file, {args.naive_repeat} for the naive file"
    )
    if naive_s > 30:
        print(
            f"the naive file ({naive_s:.0f} s) would exceed Airflow's default "
            "dagbag_import_timeout of 30 s: an import error in the UI"
        )
    return exit_code(worst < TARGET_S, args)


if __name__ == "__main__":
    sys.exit(main())
