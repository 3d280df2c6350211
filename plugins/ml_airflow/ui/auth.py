"""Who may see what: every route of the ML view depends on one of these.

The user comes from Airflow's own `get_user` (a bearer token, or the UI's `_token` session
cookie that the browser sends with the iframe's requests), and access is decided by the
configured auth manager (simple, FAB, Keycloak...) through Airflow's `requires_access_dag`:
reading a pipeline's reports needs GET access to each of its DAGs.
"""

from __future__ import annotations

from typing import Annotated

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import get_user, requires_access_dag
from fastapi import Depends, HTTPException, Request, status

from ml.config import available_pipelines

DAG_SUFFIXES = ("ingest", "train")  # the DAGs dags/ml_pipelines.py builds per pipeline


def pipeline_dag_ids(pipeline: str) -> list[str]:
    return [f"{pipeline}_{suffix}" for suffix in DAG_SUFFIXES]


def pipeline_of_dag(dag_id: str) -> str | None:
    """`<pipeline>_ingest` -> `<pipeline>` (None for a DAG that is no pipeline's)."""
    for suffix in DAG_SUFFIXES:
        name = dag_id.removesuffix(f"_{suffix}")
        if name != dag_id and name in available_pipelines():
            return name
    return None


def can_read(request: Request, user: BaseUser, pipeline: str) -> bool:
    try:
        for dag_id in pipeline_dag_ids(pipeline):
            requires_access_dag("GET", param_dag_id=dag_id)(request, user)
    except HTTPException:
        return False
    return True


def authenticated_user(user: Annotated[BaseUser, Depends(get_user)]) -> BaseUser:
    """Any logged-in Airflow user (the index then lists only the pipelines they may read)."""
    return user


def pipeline_reader(pipeline: str, request: Request, user: Annotated[BaseUser, Depends(get_user)]) -> str:
    """The path's `pipeline`, once the user is known to read all of its DAGs (401/403/404)."""
    if pipeline not in available_pipelines():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown pipeline {pipeline!r}")
    if not can_read(request, user, pipeline):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"no read access to the DAGs of {pipeline!r}")
    return pipeline


User = Annotated[BaseUser, Depends(authenticated_user)]
Pipeline = Annotated[str, Depends(pipeline_reader)]
