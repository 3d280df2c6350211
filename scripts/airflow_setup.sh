#!/usr/bin/env bash
# One-time (idempotent) set-up of the embedded Airflow: metadata DB + the pools the DAGs use.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/airflow_env.sh"
mkdir -p "$AIRFLOW_HOME"
airflow db migrate
airflow pools set ml_serving_push 1 "one model push to TF Serving at a time"
