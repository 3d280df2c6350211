"""PreloadingLocalExecutor: Airflow's LocalExecutor whose preloaded forkserver starts with it.

With `[scheduler] mp_start_method = forkserver` and `mp_forkserver_preload = ml_airflow.preload`
(scripts/airflow_env.sh) the LocalExecutor's workers are forked from a forkserver that imported
TF, TFDV, GE and Airflow's task runner once (plugins/ml_airflow/preload.py). Python starts that
forkserver lazily, at the first worker: the scheduler's loop then waits in `Process.start()`
until the forkserver has finished importing (~15 s, more on a busy machine) and the first task
waits with it. This subclass only starts the forkserver when the executor starts, so the imports
overlap the scheduler's start-up and the first DAG parse. Everything else is LocalExecutor's.
It never imports the preload itself: the scheduler's own process stays free of TensorFlow.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing import forkserver

from airflow.executors.local_executor import LocalExecutor


class PreloadingLocalExecutor(LocalExecutor):
    def start(self) -> None:
        super().start()
        if multiprocessing.get_start_method() == "forkserver":
            forkserver.ensure_running()  # spawns it and returns; the imports run in the background
            self.log.info("forkserver started early (preload: the scheduler's mp_forkserver_preload)")
