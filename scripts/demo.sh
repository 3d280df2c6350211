#!/usr/bin/env bash
# `make demo`: the whole pipeline through the real Airflow 3 scheduler on the embedded default
# (SQLite, LocalExecutor, local data), non-interactive:
#   landing zone -> airflow db migrate + pool -> scheduler, dag-processor, api-server ->
#   `airflow backfill create` of the ingest spans -> `airflow dags trigger` of the train DAG ->
#   the live model: the next DEMO_LIVE_SPANS spans landed, answered by the pushed model
#   (`ml serve-span`), and monitored (`airflow backfill create` of the monitor DAG) -> summary. Processes it started are stopped on exit; exit status non-zero if any run failed.
# Knobs: DEMO_PIPELINE (a folder of ml/pipelines/), DEMO_FROM, DEMO_TO (span ids of its cadence;
# the Makefile sets all three), DEMO_LIVE_SPANS (default 7; 0 = no live model), DEMO_TIMEOUT (s per
# wait), DEMO_MAX_ACTIVE_RUNS,
# ML_AIRFLOW_PORT (default 8080, the port `make airflow` shows the same runs on later).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/airflow_env.sh

PIPELINE="${DEMO_PIPELINE:?set DEMO_PIPELINE (make demo sets it)}"
FROM="${DEMO_FROM:?set DEMO_FROM, the first span id}"
TO="${DEMO_TO:?set DEMO_TO, the last span id}"
TIMEOUT="${DEMO_TIMEOUT:-3600}"
MAX_ACTIVE_RUNS="${DEMO_MAX_ACTIVE_RUNS:-4}"
LIVE_SPANS="${DEMO_LIVE_SPANS:-7}"
RUN_ID="demo__$(date -u +%Y%m%dT%H%M%S)"
mkdir -p "$AIRFLOW_HOME"
LOG="$AIRFLOW_HOME/demo.log"
: >"$LOG"
SECONDS=0

step() { printf '\n==> [%4ss] %s\n' "$SECONDS" "$*"; }
quiet() {  # run a chatty command, its output into $LOG; show the tail if it fails
  if ! "$@" >>"$LOG" 2>&1; then
    echo "FAILED: $*  (last lines of $LOG:)" >&2; tail -n 25 "$LOG" >&2; return 1
  fi
}

step "landing zone: spans $FROM..$TO -> $ML_DATA_ROOT"
python -m ml landing --pipeline "$PIPELINE" --from "$FROM" --to "$TO" --serving-log

step "Airflow metadata DB and the push pool (AIRFLOW_HOME=$AIRFLOW_HOME)"
quiet scripts/airflow_setup.sh

step "starting api-server, scheduler, dag-processor on $AIRFLOW__API__BASE_URL"
trap 'scripts/airflow_services.sh stop' EXIT
scripts/airflow_services.sh start
for dag in "${PIPELINE}_ingest" "${PIPELINE}_train" "${PIPELINE}_monitor"; do  # the dag-processor's first parse
  until curl -sf -o /dev/null "$AIRFLOW__API__BASE_URL/api/v2/dags/$dag"; do sleep 2; done
done

failed=0
# the backfill's partition dates: the start of the first span .. the start of the last one
read -r FROM_DATE TO_DATE < <(python -c "import sys; from ml.config import load_pipeline; \
from ml.spans import span_start; c = load_pipeline(sys.argv[1]); \
print(*(span_start(c, s).strftime('%Y-%m-%dT%H:%M:%S') for s in sys.argv[2:]))" "$PIPELINE" "$FROM" "$TO")
step "airflow backfill create --dag-id ${PIPELINE}_ingest --from-date $FROM_DATE --to-date $TO_DATE"
# conf retrain=false: the demo's one train run is the one triggered below (data-aware retraining
# would start its own after 7 validated spans; see docs/reference/dags.md)
quiet airflow backfill create --dag-id "${PIPELINE}_ingest" --from-date "$FROM_DATE" --to-date "$TO_DATE" \
  --reprocess-behavior completed --max-active-runs "$MAX_ACTIVE_RUNS" --dag-run-conf '{"retrain": false}'
python scripts/airflow_wait.py --dag-id "${PIPELINE}_ingest" --pipeline "$PIPELINE" --from "$FROM" --to "$TO" \
  --timeout "$TIMEOUT" || failed=1

step "airflow dags trigger ${PIPELINE}_train --run-id $RUN_ID --conf '{\"span\": \"$TO\"}'"
quiet airflow dags trigger "${PIPELINE}_train" --run-id "$RUN_ID" --conf "{\"span\": \"$TO\"}"
python scripts/airflow_wait.py --dag-id "${PIPELINE}_train" --run-id "$RUN_ID" \
  --timeout "$TIMEOUT" || failed=1

if [ "$LIVE_SPANS" -gt 0 ] && [ "$failed" = 0 ]; then
  read -r LIVE_FROM LIVE_TO LIVE_FROM_DATE LIVE_TO_DATE < <(python -c "import sys; from ml.config import load_pipeline; \
from ml.spans import shift_span, span_start; c = load_pipeline(sys.argv[1]); n = int(sys.argv[3]); \
a, b = shift_span(c, sys.argv[2], 1), shift_span(c, sys.argv[2], n); \
print(a, b, *(span_start(c, s).strftime('%Y-%m-%dT%H:%M:%S') for s in (a, b)))" "$PIPELINE" "$TO" "$LIVE_SPANS")
  step "the live model: spans $LIVE_FROM..$LIVE_TO land, the served model answers their requests (serve-span)"
  python -m ml landing --pipeline "$PIPELINE" --from "$LIVE_FROM" --to "$LIVE_TO" --serving-log
  python -m ml serve-span --pipeline "$PIPELINE" --span "$LIVE_FROM" --to "$LIVE_TO" >>"$LOG"
  step "airflow backfill create --dag-id ${PIPELINE}_monitor --from-date $LIVE_FROM_DATE --to-date $LIVE_TO_DATE"
  # conf retrain=false: an alarm is recorded and shown, but starts no train run in the demo
  quiet airflow backfill create --dag-id "${PIPELINE}_monitor" --from-date "$LIVE_FROM_DATE" \
    --to-date "$LIVE_TO_DATE" --reprocess-behavior completed --max-active-runs "$MAX_ACTIVE_RUNS" \
    --dag-run-conf '{"retrain": false}'
  python scripts/airflow_wait.py --dag-id "${PIPELINE}_monitor" --pipeline "$PIPELINE" --from "$LIVE_FROM" \
    --to "$LIVE_TO" --timeout "$TIMEOUT" || failed=1
fi

step "summary"
python scripts/demo_summary.py --pipeline "$PIPELINE" --from "$FROM" --to "$TO" \
  --train-run-id "$RUN_ID" || failed=1
echo; echo "results store (python -m ml results models --pipeline $PIPELINE):"
python -m ml results models --pipeline "$PIPELINE" || failed=1
if [ "$LIVE_SPANS" -gt 0 ]; then
  echo; echo "the live model, each span estimated from its predictions first, then judged with its labels"
  echo "(python -m ml results monitor --pipeline $PIPELINE --all-cutoffs):"
  python -m ml results monitor --pipeline "$PIPELINE" --all-cutoffs || failed=1
fi
echo
echo "demo finished in ${SECONDS}s ($([ "$failed" = 0 ] && echo OK || echo 'WITH FAILURES'));" \
  "Airflow state in $AIRFLOW_HOME — browse it with: make airflow"
exit "$failed"
