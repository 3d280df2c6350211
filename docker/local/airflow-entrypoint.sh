#!/usr/bin/env bash
# /entrypoint of docker/local/airflow-base.Dockerfile: the part of the official image's
# entrypoint (https://airflow.apache.org/docs/docker-stack/entrypoint.html) that
# docker-compose.yml uses.
#   - an arbitrary uid (AIRFLOW_UID) gets a passwd entry, HOME=/home/airflow
#   - waits for the metadata DB (`airflow db check`, CONNECTION_CHECK_MAX_COUNT tries,
#     CONNECTION_CHECK_SLEEP_TIME s apart; 0 tries = no wait)
#   - _AIRFLOW_DB_MIGRATE=true: `airflow db migrate`
#   - _AIRFLOW_WWW_USER_CREATE=true: `airflow users create` (Admin) from _AIRFLOW_WWW_USER_*
#   - then: `bash ...` / `python ...` run as given, `airflow X` or `X` run as `airflow X`
set -euo pipefail

if ! whoami >/dev/null 2>&1 && [[ -w /etc/passwd ]]; then
  echo "default:x:$(id -u):0:default user:${AIRFLOW_USER_HOME_DIR}:/sbin/nologin" >> /etc/passwd
fi
export HOME="${AIRFLOW_USER_HOME_DIR:-/home/airflow}"

wait_for_airflow_db() {
  local max="${CONNECTION_CHECK_MAX_COUNT:-20}" pause="${CONNECTION_CHECK_SLEEP_TIME:-3}" i
  ((max > 0)) || return 0
  for ((i = 1; i <= max; i++)); do
    if airflow db check >/dev/null 2>&1; then return 0; fi
    echo "metadata DB not reachable yet ($i/$max)" >&2
    sleep "$pause"
  done
  airflow db check  # the real error, then fail
  exit 1
}

command="${1:-}"
if [[ "$command" != "version" && "$command" != "bash" ]]; then
  wait_for_airflow_db
fi
if [[ "${_AIRFLOW_DB_MIGRATE:-}" =~ ^(true|True|1)$ ]]; then
  airflow db migrate
fi
if [[ "${_AIRFLOW_WWW_USER_CREATE:-}" =~ ^(true|True|1)$ ]]; then
  : "${_AIRFLOW_WWW_USER_PASSWORD:?_AIRFLOW_WWW_USER_PASSWORD is required for the user}"
  # exists already (a second `up`): keep it, as the official entrypoint does
  airflow users create --role "${_AIRFLOW_WWW_USER_ROLE:-Admin}" \
    --username "${_AIRFLOW_WWW_USER_USERNAME:-admin}" \
    --password "${_AIRFLOW_WWW_USER_PASSWORD}" \
    --firstname "${_AIRFLOW_WWW_USER_FIRSTNAME:-Airflow}" \
    --lastname "${_AIRFLOW_WWW_USER_LASTNAME:-Admin}" \
    --email "${_AIRFLOW_WWW_USER_EMAIL:-airflowadmin@example.com}" || true
fi

case "$command" in
  "") exec /bin/bash ;;
  bash) shift; exec /bin/bash "$@" ;;
  python) shift; exec python "$@" ;;
  airflow) shift; exec airflow "$@" ;;
  *) exec airflow "$@" ;;
esac
