"""Every pipeline under ml/pipelines/ as three DAGs: `<pipeline>_ingest`, `<pipeline>_train` and
`<pipeline>_monitor`.

A pipeline whose folder does not load (pipeline.yaml, module.py) gets no DAGs here; its message is
the import error of dags/ml_pipeline_errors.py. It must not be an error of this file: Airflow
marks every DAG of a file with an import error stale (dag_processing/collection.py), so the other
pipelines' DAGs would go with it.

Wiring only. The steps are the thin operators of plugins/ml_airflow over the `ml` CLI; parsing
this file imports Airflow, PyYAML and ml.config / ml.spans, never TensorFlow & co.

* `<pipeline>_ingest` — one run per span, an Airflow asset partition (`CronPartitionTimetable`,
  partition key = the span id), catchup from `span.start`: wait_for_span -> ingest -> validate
  -> trigger_retrain. `validate` emits the `<pipeline>_examples` asset event with partition_key =
  the span, only after the span passed; `trigger_retrain` starts the train DAG for the newest
  validated span when `training.retrain_on` says so (drift on a watched feature, or N new
  validated spans since the live model's window). Manual runs: conf `{"span": "<span id>"}`.
  Span ids, the cron and the partition key format all follow `span.cadence` (ml.spans).
* `<pipeline>_train` — on `span.train_schedule` (last complete span = the span before the run)
  or with conf `{"span": ...}` (manual, or from `trigger_retrain`): transform -> train ->
  evaluate -> is_blessed -> infra_validate -> push (pool `ml_serving_push`, one push at a time).
* `<pipeline>_monitor` — the live model, one run per span as an asset partition (like ingest; no
  catchup: `airflow backfill create --dag-id <pipeline>_monitor` for past spans):
  wait_for_predictions -> estimate (CBPE before labels: warns, never retrains) -> wait_for_labels
  (the span's prediction log complete and its labels landed, or the labels overdue: partial) ->
  monitor (realized + estimated performance per version label, alarm bands) -> trigger_retrain
  (a realized drop below the band: the train DAG with reason `performance`). Re-running a span
  when more labels landed restates it. Conf `{"span": ...}` for a manual run.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import (
    DAG,
    Asset,
    CronPartitionTimetable,
    CronTriggerTimetable,
    Param,
    conf,
)

from ml.config import PipelineConfig, load_all_pipelines
from ml.spans import cadence, first_span, span_start
from ml_airflow.context import MACROS, SPAN_PARAM
from ml_airflow.operators import (
    EvaluateOperator,
    InfraValidateOperator,
    IngestOperator,
    MonitorOperator,
    PushOperator,
    TransformOperator,
    ValidateOperator,
)
from ml_airflow.promotion import BlessingGateOperator
from ml_airflow.retrain import PerformanceRetrainOperator, RetrainTriggerOperator
from ml_airflow.sensors import MonitorSensor, SpanSensor
from ml_airflow.train import train_operator

PUSH_POOL = "ml_serving_push"
INGEST_MAX_ACTIVE_RUNS = 4
DEFAULT_ARGS = {
    "owner": "ml",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=1),
    "retry_exponential_backoff": True,
}


def xcom(task_id: str, key: str) -> str:
    """Template for one key of a task's result dict."""
    return f"{{{{ ti.xcom_pull(task_ids='{task_id}')['{key}'] }}}}"


def optional(kind: str, description: str) -> Param:
    return Param(None, type=["null", kind], description=description)


def span_param(cfg: PipelineConfig) -> Param:
    kind = cadence(cfg)
    return Param(
        None,
        type=["null", "string"],
        description=f"{kind.name} span id ({kind.format}, e.g. {first_span(cfg)}); empty = the run's "
        "partition key (ingest) or data interval (train)",
    )


def cron_note() -> str:
    """Said in the DAG docs when the scheduler runs no cron (the local default): "Next Run" is
    Airflow's computation, not a run that will happen."""
    if conf.getboolean("scheduler", "use_job_schedule", fallback=True):
        return ""
    return (
        "\n\n**Cron is off here** (`[scheduler] use_job_schedule = False`, the local default):"
        ' runs come from backfills and manual triggers only; the "Next Run" shown will not happen.'
    )


def ingest_span(cfg: PipelineConfig) -> str:
    """The span template of an ingest run; a manual run without one picks the newest landed
    span with no successful run (ml_airflow.context.run_span)."""
    return f"{{{{ ml_span('{cfg.name}', params.span, dag_run.partition_key, 0, dag_run) }}}}"


def monitor_span(cfg: PipelineConfig) -> str:
    """The span template of a monitor run; a manual run without one picks the newest span with a
    complete prediction log that was never monitored."""
    return f"{{{{ ml_span('{cfg.name}', params.span, dag_run.partition_key, 0, dag_run, 'monitor') }}}}"


def train_span(cfg: PipelineConfig) -> str:
    """The span template of a train run: the last complete span before its data interval's end
    (or the `span` param/conf)."""
    return f"{{{{ ml_span('{cfg.name}', params.span, data_interval_end, -1) }}}}"


def examples_asset(cfg: PipelineConfig) -> Asset:
    return Asset(name=f"{cfg.name}_examples", uri=f"ml://{cfg.name}/examples", group="ml")


def start_date(cfg: PipelineConfig) -> dt.datetime:
    return span_start(cfg, first_span(cfg))


def span_dag(cfg: PipelineConfig, kind: str, retrain_help: str, doc: str, catchup: bool) -> DAG:
    """A DAG with one run per span: an asset partition whose key is the span id (ingest, monitor)."""
    return DAG(
        dag_id=f"{cfg.name}_{kind}",
        schedule=CronPartitionTimetable(cfg.ingest_schedule, timezone="UTC", key_format=cfg.span_format),
        start_date=start_date(cfg),
        catchup=catchup,
        max_active_runs=INGEST_MAX_ACTIVE_RUNS,
        default_args=DEFAULT_ARGS,
        params={
            SPAN_PARAM: span_param(cfg),
            "retrain": Param(True, type="boolean", description=retrain_help),
        },
        user_defined_macros=MACROS,
        tags=["ml", cfg.name, kind],
        doc_md=f"{doc} of pipeline `{cfg.name}`: one run per span, the run's partition key "
        f"(see dags/ml_pipelines.py).{cron_note()}",
    )


def ingest_dag(cfg: PipelineConfig) -> DAG:
    with span_dag(
        cfg, "ingest", "let this span trigger training when it calls for it", "Span ingestion", catchup=True
    ) as dag:
        common = {"pipeline": cfg.name, "span": ingest_span(cfg)}
        landed = SpanSensor(task_id="wait_for_span", pipeline=cfg.name, span=common["span"])
        ingest = IngestOperator(task_id="ingest", **common)
        validate = ValidateOperator(task_id="validate", outlets=[examples_asset(cfg)], **common)
        retrain = RetrainTriggerOperator(
            task_id="trigger_retrain",
            trigger_dag_id=f"{cfg.name}_train",
            enabled="{{ params.retrain }}",
            **common,
        )
        landed >> ingest >> validate >> retrain
    return dag


def train_dag(cfg: PipelineConfig) -> DAG:
    with DAG(
        dag_id=f"{cfg.name}_train",
        schedule=CronTriggerTimetable(cfg.train_schedule, timezone="UTC"),
        start_date=start_date(cfg),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        user_defined_macros=MACROS,
        params={
            SPAN_PARAM: span_param(cfg),
            "window": optional("integer", "spans in the training window (training.window_spans)"),
            "epochs": optional("integer", "training epochs (training.epochs)"),
        },
        tags=["ml", cfg.name, "train"],
        doc_md=f"Continuous training of pipeline `{cfg.name}` (see dags/ml_pipelines.py).{cron_note()}",
    ) as dag:
        model = xcom("train", "model_dir")
        transform = TransformOperator(
            task_id="transform",
            pipeline=cfg.name,
            end_span=train_span(cfg),
            run_id="{{ ml_run_slug(run_id) }}",
            window="{{ params.window or '' }}",
        )
        train = train_operator(
            task_id="train",
            pipeline=cfg.name,
            transform_dir=xcom("transform", "transform_dir"),
            output_dir=f"{{{{ ml_model_dir('{cfg.name}', run_id) }}}}",
            epochs="{{ params.epochs or '' }}",
            retries=1,
            execution_timeout=dt.timedelta(hours=6),
        )
        evaluate = EvaluateOperator(task_id="evaluate", pipeline=cfg.name, model=model)
        gate = BlessingGateOperator(task_id="is_blessed", evaluation=evaluate.output)
        infra = InfraValidateOperator(task_id="infra_validate", pipeline=cfg.name, model=model)
        push = PushOperator(
            task_id="push",
            pipeline=cfg.name,
            model=model,
            blessing=xcom("evaluate", "blessing"),
            pool=PUSH_POOL,
        )
        transform >> train >> evaluate >> gate >> infra >> push
    return dag


def monitor_dag(cfg: PipelineConfig) -> DAG:
    with span_dag(
        cfg,
        "monitor",
        "let a performance alarm on this span trigger training",
        "The live model",
        catchup=False,
    ) as dag:
        common = {"pipeline": cfg.name, "span": monitor_span(cfg)}
        logged = MonitorSensor(task_id="wait_for_predictions", wait_for="predictions", **common)
        estimate = MonitorOperator(task_id="estimate", stage="estimated", **common)
        ready = MonitorSensor(task_id="wait_for_labels", **common)
        monitor = MonitorOperator(task_id="monitor", stage="realized", **common)
        retrain = PerformanceRetrainOperator(
            task_id="trigger_retrain",
            trigger_dag_id=f"{cfg.name}_train",
            enabled="{{ params.retrain }}",
            **common,
        )
        logged >> estimate >> ready >> monitor >> retrain
    return dag


for _cfg in load_all_pipelines()[0].values():
    for _dag in (ingest_dag(_cfg), train_dag(_cfg), monitor_dag(_cfg)):
        globals()[_dag.dag_id] = _dag
