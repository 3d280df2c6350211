"""Airflow's local-settings hook: every Airflow process imports `airflow_local_settings` when it
is on sys.path (plugins/ is, in the embedded set-up and in compose). It only acts on:

ML_LOG_SERVER_HOST  the address the task-log servers listen on: the scheduler's / worker's
                    (:8793, `[logging] worker_log_server_port`) and the triggerer's (:8794,
                    `trigger_log_server_port`). Airflow 3.3 has a setting for the ports but not
                    for the address: `airflow.utils.serve_logs.core` hands uvicorn host="", every
                    interface. `make airflow` sets 127.0.0.1 (its API server reads the logs on
                    the same host). Unset (compose), the workers' log servers stay reachable on
                    the compose network, where the API server fetches running tasks' logs; their
                    ports are not published.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

__all__: list[str] = []  # nothing here for airflow.settings to take over

LOG_SERVER_HOST_ENV = "ML_LOG_SERVER_HOST"


def bind_log_servers(host: str) -> None:
    """Make `airflow.utils.serve_logs.serve_logs` (and so both log servers) listen on `host`."""
    from airflow.utils.serve_logs import core

    if getattr(core.uvicorn, "ml_log_server_host", None) == host:
        return
    uvicorn_run = core.uvicorn.run

    def run(app, *args, **kwargs):
        kwargs["host"] = host
        return uvicorn_run(app, *args, **kwargs)

    core.uvicorn = SimpleNamespace(run=run, ml_log_server_host=host)  # type: ignore[assignment]


if os.environ.get(LOG_SERVER_HOST_ENV):
    bind_log_servers(os.environ[LOG_SERVER_HOST_ENV])
