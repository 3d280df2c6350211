"""Which Airflow run handled each span (read from Airflow's metadata DB, at request time), so a
grid cell can link to its task instance in the Airflow UI."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from ml.config import PipelineConfig
from ml.spans import span_of


def span_runs(dag_id: str, cfg: PipelineConfig) -> dict[str, str]:
    """`{span: run_id}` of the DAG's runs, newest run winning: the span is the run's partition
    key, its conf `span`, or the span (of the pipeline's cadence) its data interval starts in."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    query = (
        select(DagRun.run_id, DagRun.conf, DagRun.partition_key, DagRun.data_interval_start)
        .where(DagRun.dag_id == dag_id)
        .order_by(DagRun.id)
    )
    found: dict[str, str] = {}
    with create_session() as session:
        for run_id, conf, partition_key, start in session.execute(query):
            span = (conf or {}).get("span") or partition_key
            if not span and isinstance(start, dt.datetime):
                span = span_of(cfg, start)
            if span:
                found[str(span)] = run_id
    return found


def task_url(ui_base: str, dag_id: str, run_id: str, task_id: str) -> str:
    """The task instance's page in the Airflow 3 UI."""
    return f"{ui_base}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}/tasks/{quote(task_id)}"
