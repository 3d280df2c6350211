"""Airflow plugin: serves pipeline reports at `/ml-artifacts/` for the operators' extra links.

The extra links themselves need no registration: Airflow 3 serializes each operator's
`operator_extra_links` by name + XCom key. The `ml_airflow/` package beside this file is
excluded from plugin discovery (plugins/.airflowignore) and imported as a normal package.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from ml_airflow.artifacts import artifacts_app
from ml_airflow.links import ARTIFACTS_PREFIX


class MLArtifactsPlugin(AirflowPlugin):
    name = "ml_artifacts"
    fastapi_apps = [{"app": artifacts_app(), "url_prefix": ARTIFACTS_PREFIX, "name": "ML pipeline reports"}]
