#!/usr/bin/env bash
# Start / stop the three Airflow 3 processes of the embedded set-up in the background:
#   scripts/airflow_services.sh start|stop|status
# api-server (UI + the Execution API tasks report to), scheduler (LocalExecutor), dag-processor.
# Each runs in its own session (process group); pids in $AIRFLOW_HOME/services.pids, logs in
# $AIRFLOW_HOME/services/<name>.log. `start` returns once the API server answers.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/airflow_env.sh"

PIDS="$AIRFLOW_HOME/services.pids"
LOGS="$AIRFLOW_HOME/services"
START_TIMEOUT="${ML_AIRFLOW_START_TIMEOUT:-300}"

start() {
  mkdir -p "$LOGS"
  if [ -s "$PIDS" ] && status >/dev/null; then
    echo "already running (pids in $PIDS)"; return 0
  fi
  if [ ! -f "$AIRFLOW_HOME/airflow.cfg" ] && [ -z "${AIRFLOW__API_AUTH__JWT_SECRET:-}" ]; then
    # every process would invent its own JWT secret and tasks would get 403 from the API
    echo "no $AIRFLOW_HOME/airflow.cfg yet: run scripts/airflow_setup.sh first" >&2; return 1
  fi
  if curl -s -o /dev/null "$AIRFLOW__API__BASE_URL"; then
    echo "something already listens on $AIRFLOW__API__BASE_URL; stop it or set ML_AIRFLOW_PORT" >&2
    return 1
  fi
  : >"$PIDS"
  local name
  for name in api-server scheduler dag-processor; do
    local args=("$name")
    [ "$name" = scheduler ] && args+=(--skip-serve-logs)  # task logs are local files
    setsid airflow "${args[@]}" >"$LOGS/$name.log" 2>&1 </dev/null &
    echo "$name $!" >>"$PIDS"
  done
  local url="$AIRFLOW__API__BASE_URL/api/v2/monitor/health" waited=0
  until curl -sf -o /dev/null "$url"; do
    if ! status >/dev/null; then
      echo "an Airflow process died during start-up; see $LOGS/" >&2; tail -n 20 "$LOGS"/*.log >&2
      stop; return 1
    fi
    if [ "$waited" -ge "$START_TIMEOUT" ]; then
      echo "API server not up after ${START_TIMEOUT}s ($url); see $LOGS/" >&2; stop; return 1
    fi
    sleep 2; waited=$((waited + 2))
  done
  echo "Airflow up: $AIRFLOW__API__BASE_URL (logs: $LOGS/)"
}

# Each service was started with setsid: its pid is its process-group id; end the whole group.
stop() {
  [ -f "$PIDS" ] || return 0
  local name pid
  while read -r name pid; do
    kill -TERM -- "-$pid" 2>/dev/null || true
  done <"$PIDS"
  for _ in $(seq 1 30); do
    local alive=0
    while read -r name pid; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done <"$PIDS"
    [ "$alive" = 0 ] && break
    sleep 1
  done
  while read -r name pid; do kill -KILL -- "-$pid" 2>/dev/null || true; done <"$PIDS"
  rm -f "$PIDS"
  echo "Airflow stopped"
}

status() {
  [ -f "$PIDS" ] || { echo "not running"; return 1; }
  local name pid rc=0
  while read -r name pid; do
    if kill -0 "$pid" 2>/dev/null; then echo "$name $pid running"; else echo "$name $pid DEAD"; rc=1; fi
  done <"$PIDS"
  return $rc
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
