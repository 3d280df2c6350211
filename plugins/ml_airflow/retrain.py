"""RetrainTriggerOperator: start the train DAG when a validated span says so.

The last task of each ingest run. `ml retrain-check` (reading the results store) decides from
`training.retrain_on` of pipeline.yaml: a drift alarm on a watched feature in this span, or N
validated spans after the live model's training window. Then, unless a train run is already
queued or running (it will see the newest spans), it triggers `<pipeline>_train` with conf
`{"span": <newest validated span>, "reason": ..., "trigger": "data"}`; otherwise it is skipped
with the reason. `PerformanceRetrainOperator` is the same for the monitor DAG's alarms.
A run with conf `{"retrain": false}` (e.g. `airflow backfill create ... --dag-run-conf
'{"retrain": false}'` for a year of history) never triggers. `max_active_tis_per_dag=1`:
decisions of parallel ingest runs happen one after another, so each sees the train run the
previous one triggered.

In-DAG rather than an asset-triggered DAG: Airflow 3.3.2 creates asset-triggered runs only with
`[scheduler] use_job_schedule` on, which the embedded default turns off, and a partitioned asset
event never triggers a non-partitioned DAG such as the cron-scheduled train DAG.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk.exceptions import AirflowSkipException

from ml_airflow.operators import run_ml

if TYPE_CHECKING:
    from ml.results.retrain import RetrainDecision


class RetrainTriggerOperator(TriggerDagRunOperator):
    template_fields: Sequence[str] = (*TriggerDagRunOperator.template_fields, "pipeline", "span", "enabled")
    # no "Triggered DAG" button: it errors on the (usual) skipped decision; the run id is logged
    operator_extra_links: list = []
    ui_color = "#ede7f6"

    def __init__(
        self, *, pipeline: str, span: str, trigger_dag_id: str, enabled: bool | str = True, **kwargs
    ) -> None:
        kwargs.setdefault("max_active_tis_per_dag", 1)
        super().__init__(trigger_dag_id=trigger_dag_id, **kwargs)
        self.pipeline, self.span, self.enabled = pipeline, span, enabled

    def execute(self, context) -> Any:
        if str(self.enabled).strip().lower() in ("false", "0", "no", "off"):
            raise AirflowSkipException(f"span {self.span}: retraining off for this run (conf retrain=false)")
        decision = self.decide(context)
        if not decision.retrain:
            raise AirflowSkipException(f"span {self.span}: no retraining: {decision.reason}")
        pending = context["ti"].get_dr_count(dag_id=self.trigger_dag_id, states=["queued", "running"])
        if pending:
            raise AirflowSkipException(
                f"span {self.span}: {decision.reason}; {pending} {self.trigger_dag_id} run(s) already "
                "queued or running will train on the newest spans"
            )
        end = decision.end_span
        self.conf = {"span": end, "reason": decision.reason, "trigger": decision.trigger}
        self.trigger_run_id = f"retrain__{end}__{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
        self.log.info(
            "span %s: %s: triggering %s for span %s", self.span, decision.reason, self.trigger_dag_id, end
        )
        return super().execute(context)

    def decide(self, context) -> RetrainDecision:
        """Data-aware retraining (`ml retrain-check`)."""
        from ml.results.retrain import RetrainDecision

        return RetrainDecision.parse(run_ml(self, context, ["retrain-check", "--span", self.span]))


class PerformanceRetrainOperator(RetrainTriggerOperator):
    """The last task of each monitor run: a realized performance alarm on the span (the
    `monitor` task's result, ml.results.retrain.performance_decision) triggers the train DAG
    with conf `{"span": <newest validated span>, "reason": "performance: ...", "trigger":
    "performance"}`, and so does a drift of the served inputs on a `served_drift_features`
    feature (`"trigger": "served-drift"`); estimates, prediction drift and low coverage never do."""

    ui_color = "#fce4ec"

    def __init__(self, *, monitor_task_id: str = "monitor", **kwargs) -> None:
        super().__init__(**kwargs)
        self.monitor_task_id = monitor_task_id

    def decide(self, context) -> RetrainDecision:
        from ml.monitoring.monitor_result import MonitorResult
        from ml.results.retrain import RetrainDecision

        pulled = context["ti"].xcom_pull(task_ids=self.monitor_task_id)
        if pulled is None:
            return RetrainDecision(span=self.span, retrain=False, reason="the monitor task left no result")
        result = MonitorResult.parse(pulled, where=f"XCom of task {self.monitor_task_id}")
        return RetrainDecision(
            span=result.span,
            retrain=result.retrain,
            reason=result.reason,
            end_span=result.end_span,
            trigger=result.trigger,
        )
