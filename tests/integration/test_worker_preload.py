"""The worker preload (plugins/ml_airflow/preload.py): only processes that fork tasks import TF.

One fresh interpreter plays the scheduler as `airflow scheduler` sets it up from
scripts/airflow_env.sh (`[scheduler] mp_start_method = forkserver`, `mp_forkserver_preload =
ml_airflow.preload`) and starts its executor (PreloadingLocalExecutor): its main process stays
free of TensorFlow & co.
A multiprocessing child (forked from the forkserver, as the LocalExecutor's workers are) then
`os.fork()`s like Airflow's task supervisor does, and that grandchild — a task process — finds
TF, TFDV and GE already imported and validates a real span with them (fork safety).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.embedded_airflow import embedded_env

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import json, multiprocessing, os, sys

HEAVY = ("tensorflow", "tensorflow_data_validation", "great_expectations", "pandas")


def task_process(roots, span, out):
    # What a forked task sees, then real work with the inherited libraries.
    from ml.cli import run_command
    seen = {"preload": "ml_airflow.preload" in sys.modules,
            "inherited": [m for m in HEAVY if m in sys.modules]}
    run_command(["ingest", "--pipeline", "flights", "--span", span, *roots])
    seen["validate_passed"] = run_command(
        ["validate", "--pipeline", "flights", "--span", span, *roots])["passed"]
    out.write_text(json.dumps(seen))


def worker(roots, span, out):
    # A LocalExecutor worker: it forks one task process like supervisor.ActivitySubprocess.start.
    pid = os.fork()
    if pid == 0:
        try:
            task_process(roots, span, out)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


if __name__ == "__main__":
    from pathlib import Path
    from airflow.utils.process_utils import set_component_mp_start_method
    from airflow.executors.executor_loader import ExecutorLoader

    set_component_mp_start_method("scheduler")
    executor = ExecutorLoader.import_default_executor_cls()[0]()  # PreloadingLocalExecutor
    executor.start()  # starts the forkserver (its preload runs there, not here)
    scheduler = {"start_method": multiprocessing.get_start_method(), "executor": type(executor).__name__,
                 "heavy": [m for m in HEAVY + ("ml_airflow.preload",) if m in sys.modules]}
    roots, span, out = sys.argv[3:], sys.argv[1], Path(sys.argv[2])
    proc = multiprocessing.Process(target=worker, args=(roots, span, out))
    proc.start()
    proc.join(600)
    executor.end()
    scheduler["heavy_after_worker"] = [m for m in HEAVY if m in sys.modules]
    print(json.dumps({"scheduler": scheduler, "task": json.loads(out.read_text())}))
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory, landed_data_root) -> dict:
    tmp = tmp_path_factory.mktemp("preload")
    script = tmp / "probe.py"
    script.write_text(PROBE)
    env = embedded_env(os.environ)
    roots = ["--data-root", str(landed_data_root), "--artifact-root", str(tmp / "artifacts")]
    out = subprocess.run(
        [sys.executable, str(script), "2013-01-02", str(tmp / "task.json"), *roots],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_scheduler_main_process_never_imports_the_preload(probe):
    assert probe["scheduler"]["start_method"] == "forkserver"
    assert probe["scheduler"]["executor"] == "PreloadingLocalExecutor"
    assert probe["scheduler"]["heavy"] == []
    assert probe["scheduler"]["heavy_after_worker"] == []


def test_task_process_inherits_the_preload_and_validates_after_fork(probe):
    task = probe["task"]
    assert task["preload"] is True
    assert task["inherited"] == ["tensorflow", "tensorflow_data_validation", "great_expectations", "pandas"]
    assert task["validate_passed"] is True
