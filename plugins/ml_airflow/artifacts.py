"""`/ml-artifacts/<path>` on the Airflow API server: read-only reports under the artifact root.

Only report-like files are served (HTML, JSON, text, images, styles); examples, statistics
protos and models are not. Mounted by plugins/ml_airflow_plugin.py; the API server binds to
127.0.0.1 in the embedded set-up (scripts/airflow_env.sh).
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from ml.roots import Roots

REPORT_SUFFIXES = frozenset(
    {
        ".html",
        ".htm",
        ".json",
        ".txt",
        ".pbtxt",
        ".csv",
        ".css",
        ".js",
        ".png",
        ".svg",
        ".jpg",
        ".jpeg",
        ".gif",
        ".ico",
        ".woff",
        ".woff2",
    }
)


class ReportFiles(StaticFiles):
    """StaticFiles restricted to REPORT_SUFFIXES (paths stay confined to the root by StaticFiles)."""

    async def get_response(self, path: str, scope):
        if path not in ("", ".") and PurePosixPath(path).suffix.lower() not in REPORT_SUFFIXES:
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)


def artifacts_app(root: str | os.PathLike | None = None) -> FastAPI:
    app = FastAPI(title="ML artifacts", docs_url=None, redoc_url=None, openapi_url=None)
    directory = root or Roots.resolve().artifacts
    app.mount("/", ReportFiles(directory=directory, html=True, check_dir=False), name="reports")
    return app
