"""Worker preload: what every task process needs, imported once by the process that forks them.

Airflow 3 runs a task in a process `os.fork()`ed from its executor worker (supervisor.py,
`ActivitySubprocess.start`), so whatever the worker imported before is inherited copy-on-write.
This module is that import list: the span steps' heavy libraries (`ml.preload`: TensorFlow, TFDV,
Great Expectations, pandas, pyarrow) plus Airflow's task-runner side (the task runner, the DagBag
that re-parses the DAG file in each task, `@task`'s decorator and PythonOperator) and this
project's operators, and loads the Airflow plugins as the task runner's listener manager would.
Imports only: no task code runs, no TF thread or session exists before the fork.
The imported objects are then frozen out of the garbage collector's reach (`gc.freeze()`).

Activated per executor, only in worker processes (never the scheduler's main loop, the
dag-processor or the API server):

* LocalExecutor (embedded default, scripts/airflow_env.sh):
  `[scheduler] mp_start_method = forkserver` + `[scheduler] mp_forkserver_preload =
  ml_airflow.preload`. The scheduler's multiprocessing forkserver imports this module once; the
  LocalExecutor workers are forked from it and fork the task processes in turn.
  `ml_airflow.executors.PreloadingLocalExecutor` starts that forkserver with the executor.
* Celery (docker-compose): the worker is started as `python -m ml_airflow.preload celery worker`:
  this module is imported first, then Airflow's CLI runs in the same process, so Celery's prefork
  pool processes (and their task processes) inherit it.

A module that fails to import is logged and skipped: the task then imports it itself.
`ML_PRELOAD=0` skips the heavy ML part (Airflow's modules are still imported).
"""

from __future__ import annotations

import gc
import importlib
import logging
import sys
import time

log = logging.getLogger(__name__)

MODULES = (
    "ml.preload",  # TF, TFDV, GE, pandas, pyarrow + the ml steps (honours ML_PRELOAD=0)
    "airflow.sdk",
    "airflow.sdk.execution_time.supervisor",
    "airflow.sdk.execution_time.task_runner",
    "airflow.dag_processing.dagbag",
    "airflow.providers.standard.decorators.python",  # @task
    "airflow.providers.standard.operators.python",
    "ml_airflow.context",
    "ml_airflow.operators",
    "ml_airflow.promotion",
    "ml_airflow.sensors",
    "ml_airflow.train",
)

SECONDS: dict[str, float] = {}
"""Import seconds per module in this process (tasks see `ml_airflow.preload` in sys.modules)."""


def preload(modules: tuple[str, ...] = MODULES) -> dict[str, float]:
    for name in modules:
        start = time.perf_counter()
        try:
            importlib.import_module(name)
        except Exception:  # never break the forkserver / worker: the task imports it itself
            log.warning("preload: cannot import %s; tasks will import it themselves", name, exc_info=True)
            continue
        SECONDS[name] = round(time.perf_counter() - start, 3)
    _load_listener_plugins()
    # Move what the imports left into the GC's permanent generation (as LocalExecutor does before
    # it forks workers): the collector in the forked processes never walks these millions of
    # objects, which saves CPU and keeps their pages shared instead of copied on write.
    gc.collect()
    gc.freeze()
    return dict(SECONDS)


def _load_listener_plugins() -> None:
    """The task runner's listener manager (`on_starting`) loads the Airflow plugins in every task
    process (~0.4 s); a process forked from the scheduler inherits them, one forked from the
    forkserver would not. Its result is cached, so load it here once."""
    start = time.perf_counter()
    try:
        from airflow.sdk.listener import get_listener_manager

        get_listener_manager()
    except Exception:
        log.warning("preload: cannot load the listener plugins", exc_info=True)
        return
    SECONDS["airflow.sdk.listener:get_listener_manager()"] = round(time.perf_counter() - start, 3)


if __name__ == "__main__":  # python -m ml_airflow.preload <airflow CLI args>, e.g. `celery worker`
    importlib.import_module("ml_airflow.preload")  # the preload, under the module's own name
    from airflow.__main__ import main

    sys.argv[0] = "airflow"
    sys.exit(main())
else:
    preload()
