"""Operator extra links: buttons on a task instance pointing at the reports its step wrote.

Airflow 3 computes an operator's links on the worker when the task finishes and stores each URL
as an XCom (`xcom_key`); the API server only reads that XCom back. Report paths come from the
XCom `REPORTS_XCOM` that every ml operator pushes: `{link key: path}` taken from its result dict,
or `{"failure": file}` from a PipelineError (pushed empty first, so the lookup never misses).
Files under the artifact root are served by the ML view (plugins/ml_airflow/ui) of the API
server. URLs are host-relative (`/ml-artifacts/...`, with the path of `[api] base_url` in front
when Airflow runs under a proxy prefix), so they work from any host, port or proxy; a file
outside the artifact root gets no link (a browser drops `file://` links from a web page).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import attrs
from airflow.sdk import BaseOperatorLink, conf

from ml.roots import Roots

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

ARTIFACTS_PREFIX = "/ml-artifacts"
REPORTS_XCOM = "ml_reports"
ERROR_XCOM = "ml_error"
FAILURE_KEY = "failure"


def artifacts_url() -> str:
    """`/ml-artifacts`, under the path prefix of `[api] base_url` if it has one."""
    prefix = urlsplit(conf.get("api", "base_url", fallback=None) or "").path.rstrip("/")
    return f"{prefix}{ARTIFACTS_PREFIX}"


def report_url(path: str | None) -> str:
    """Host-relative URL of a report file under the artifact root ('' when none or outside)."""
    if not path:
        return ""
    file = Path(path).resolve()
    try:
        rel = file.relative_to(Roots.resolve().artifacts)
    except ValueError:
        return ""
    return f"{artifacts_url()}/{quote(rel.as_posix())}"


def lookup(data: Any, dotted: str) -> Any:
    """`lookup({"a": {"b": 1}}, "a.b") == 1`; None when any level is missing."""
    for part in dotted.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


@attrs.define
class ReportLink(BaseOperatorLink):
    """A button named `label` to the report at `key` (dotted) of the task's result dict, or to
    `file` inside that folder when given."""

    label: str
    key: str
    file: str = ""

    @property
    def name(self) -> str:
        return self.label

    @property
    def xcom_key(self) -> str:
        return f"_link_ml_{self.key}" + (f"_{self.file}" if self.file else "")

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        reports = XCom.get_value(ti_key=ti_key, key=REPORTS_XCOM) or {}
        path = reports.get(self.key)
        return report_url(str(Path(path) / self.file) if path and self.file else path)


def report_paths(links: Iterable[BaseOperatorLink], result: dict) -> dict[str, str]:
    """`{key: path}` for the ReportLinks whose key the result dict holds as a string."""
    paths = {link.key: lookup(result, link.key) for link in links if isinstance(link, ReportLink)}
    return {key: path for key, path in paths.items() if isinstance(path, str)}


FAILURE_LINK = ReportLink("Failure report", FAILURE_KEY)
