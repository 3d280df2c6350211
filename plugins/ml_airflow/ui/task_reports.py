"""The "Reports" tab of a task instance: the report links its step left, built at click time.

Reads the task's `ml_reports` / `ml_error` XComs (paths, as the operator pushed them) from
Airflow's metadata DB and turns them into host-relative URLs now, so a link never carries a
host, port or prefix frozen when the task ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ml_airflow.links import ERROR_XCOM, REPORTS_XCOM

LABELS = {
    "failure": "Failure report",
    "data_docs": "Data Docs (Great Expectations)",
    "stats_html": "Statistics (TFDV)",
    "stats_vs_previous_html": "Statistics vs previous span",
    "anomalies_file": "Anomalies",
    "evaluation_dir": "Evaluation (TFMA)",
    "blessing": "Blessing",
}


def task_xcoms(dag_id: str, run_id: str, task_id: str, map_index: int) -> dict[str, Any]:
    """`{key: value}` of the task instance's ML XComs (reports, error)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(run_id=run_id, dag_ids=dag_id, task_ids=task_id, map_indexes=map_index)
        found: dict[str, Any] = {}
        for row in session.scalars(query.where(XComModel.key.in_([REPORTS_XCOM, ERROR_XCOM]))):
            xcom: Any = row  # an XComModel (get_many's Select is typed as rows of tuples)
            found[xcom.key] = XComModel.deserialize_value(xcom)
        return found


def report_links(artifacts: Path, pipeline_url: str, reports: dict[str, str]) -> list[tuple[str, str]]:
    """(label, URL) per report path inside the pipeline's artifact folder (others are skipped)."""
    links = []
    for key, path in sorted(reports.items(), key=lambda kv: (kv[0] != "failure", kv[0])):
        try:
            rel = Path(path).resolve().relative_to(artifacts)
        except (TypeError, ValueError):
            continue
        if key == "evaluation_dir":
            links.append((LABELS[key], f"{pipeline_url}/tfma/{rel.name}"))
            continue
        links.append((LABELS.get(key, key), f"{pipeline_url}/{rel.as_posix()}"))
    return links
