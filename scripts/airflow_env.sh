# Embedded Airflow for this repository:  source scripts/airflow_env.sh
#
# SQLite + LocalExecutor under $AIRFLOW_HOME (default <repo>/.local/airflow), this repo's dags/
# and plugins/, no example DAGs, API server (UI + task Execution API) on 127.0.0.1:$ML_AIRFLOW_PORT.
# Anything already exported wins, so each value can be overridden.
# Airflow 3 needs three processes: scheduler, dag-processor and api-server (tasks report to the
# api-server's Execution API). scripts/airflow_up.sh starts them; `make airflow` runs standalone.

ML_PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ML_PROJECT_ROOT
export PATH="$ML_PROJECT_ROOT/.venv/bin:$PATH"
export PYTHONPATH="$ML_PROJECT_ROOT:$ML_PROJECT_ROOT/plugins${PYTHONPATH:+:$PYTHONPATH}"

# the pipeline's own roots (same defaults as the `ml` CLI)
export ML_DATA_ROOT="${ML_DATA_ROOT:-$ML_PROJECT_ROOT/.local/data}"
export ML_ARTIFACT_ROOT="${ML_ARTIFACT_ROOT:-$ML_PROJECT_ROOT/.local/artifacts}"
export ML_SERVING_ROOT="${ML_SERVING_ROOT:-$ML_PROJECT_ROOT/.local/serving}"
export TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"

export AIRFLOW_HOME="${AIRFLOW_HOME:-$ML_PROJECT_ROOT/.local/airflow}"
export ML_AIRFLOW_PORT="${ML_AIRFLOW_PORT:-8080}"
export AIRFLOW__CORE__DAGS_FOLDER="${AIRFLOW__CORE__DAGS_FOLDER:-$ML_PROJECT_ROOT/dags}"
export AIRFLOW__CORE__PLUGINS_FOLDER="${AIRFLOW__CORE__PLUGINS_FOLDER:-$ML_PROJECT_ROOT/plugins}"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db}"
if [[ "$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" == sqlite* ]]; then  # wait for SQLite's write lock
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS:-ml_airflow.local_db.CONNECT_ARGS}"
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC:-ml_airflow.local_db.CONNECT_ARGS}"
fi
export AIRFLOW__API__HOST="${AIRFLOW__API__HOST:-127.0.0.1}"
export AIRFLOW__API__PORT="$ML_AIRFLOW_PORT"
export AIRFLOW__API__BASE_URL="${AIRFLOW__API__BASE_URL:-http://localhost:$ML_AIRFLOW_PORT}"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-$AIRFLOW__API__BASE_URL/execution/}"
# Local use: simple auth manager, everyone is admin (no login). Set False to log in as `admin`
# with the password Airflow generates into $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated.
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS:-True}"
# The demo data is from 2013 and the ingest DAG catches up from span.start: with cron scheduling
# on, the scheduler would queue a run for every day since 2013-01-01. Locally, runs come from
# backfills and manual triggers only; set True for cron-driven runs (production does).
export AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="${AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE:-False}"
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="${AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION:-False}"
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-30}"
# The task supervisor (in each executor worker) notices its task process has exited only when
# the process's sockets close *and* waitpid succeeds; when the last socket closes first (a busy
# machine, a large forked process), it sleeps in select() for up to min_heartbeat_interval (5 s)
# before it looks again, holding the worker slot, and a skipped task's state is sent only then.
# 1 s bounds that wait; the price is one heartbeat per running task per second (bench/backfill.py).
export AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL="${AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL:-1}"
# Worker preload (plugins/ml_airflow/preload.py): the LocalExecutor's workers are forked from a
# forkserver that imported TF, TFDV, GE and Airflow's task runner once; every task process forked
# from them inherits those modules instead of importing them (~11 s per validate task). Scheduler
# only: the dag-processor and API server keep the default start method and never import TF.
# LocalExecutor + starting that forkserver with the executor (plugins/ml_airflow/executors.py).
export AIRFLOW__CORE__EXECUTOR="${AIRFLOW__CORE__EXECUTOR:-ml_airflow.executors.PreloadingLocalExecutor}"
export AIRFLOW__SCHEDULER__MP_START_METHOD="${AIRFLOW__SCHEDULER__MP_START_METHOD:-forkserver}"
export AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD="${AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD:-ml_airflow.preload}"
