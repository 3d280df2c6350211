"""Airflow plugin: the ML view (plugins/ml_airflow/ui) on the API server at `/ml-artifacts/`.

`fastapi_apps` mounts the view's FastAPI app (every route behind Airflow's auth manager, see
ml_airflow/ui/auth.py); `external_views` puts it in the UI: an "ML" entry in the navigation and
an "ML" tab on each DAG (the UI opens both in an iframe of the same origin, so the session
cookie authenticates them). The operators' extra links need no registration: Airflow 3
serializes each operator's `operator_extra_links` by name + XCom key. The `ml_airflow/` package
beside this file is excluded from plugin discovery (plugins/.airflowignore) and imported as a
normal package.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from ml_airflow.links import ARTIFACTS_PREFIX
from ml_airflow.ui.app import create_app


class MLViewPlugin(AirflowPlugin):
    name = "ml_view"
    fastapi_apps = [{"app": create_app(), "url_prefix": ARTIFACTS_PREFIX, "name": "ML view"}]
    external_views = [
        {
            "name": "ML",
            "href": f"{ARTIFACTS_PREFIX}/",
            "destination": "nav",
            "url_route": "ml",
            "icon": f"{ARTIFACTS_PREFIX}/_static/ml-icon.svg",
        },
        {
            "name": "ML",
            "href": f"{ARTIFACTS_PREFIX}/_dag/{{DAG_ID}}",
            "destination": "dag",
            "url_route": "ml-dag",
        },
        {
            "name": "Reports",
            "href": f"{ARTIFACTS_PREFIX}/_ti/{{DAG_ID}}/{{RUN_ID}}/{{TASK_ID}}/{{MAP_INDEX}}",
            "destination": "task_instance",
            "url_route": "ml-reports",
        },
    ]
