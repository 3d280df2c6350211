"""The promotion gate: only a blessed model goes on to infra-validation and push."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, SkipMixin

REASON_XCOM = "reason"
log = logging.getLogger(__name__)


def blessing_reason(evaluation: dict[str, Any] | None) -> str:
    """One line on why `evaluate` did (not) bless the model."""
    from pydantic import ValidationError

    from ml.model.blessing import Blessing

    try:
        blessing = Blessing.model_validate(evaluation)
    except ValidationError:
        return "no evaluation result in XCom"
    auc = blessing.candidate.get("auc")
    base = (blessing.baseline_metrics or {}).get("auc")
    bench = (blessing.benchmark_metrics or {}).get("auc")
    scores = f"candidate auc={auc}" + (f", served baseline auc={base}" if base is not None else "")
    scores += f", benchmark auc={bench}" if bench is not None else ""
    if blessing.blessed:
        return f"every metric threshold passed ({scores})"
    if blessing.reason:  # ml.model.gate: the check that decided, in words
        return f"threshold failed: {blessing.decided_by}: {blessing.reason} ({scores})"
    where = f" on slice {blessing.failing_slice}" if blessing.failing_slice else ""
    return f"threshold failed: {blessing.failing_metric or 'unknown metric'}{where} ({scores})"


def is_blessed(evaluation: dict[str, Any] | None, ti=None) -> bool:
    """ShortCircuit callable: log and push the reason, return the evaluation's `blessed`."""
    blessed = bool(isinstance(evaluation, dict) and evaluation.get("blessed"))
    reason = blessing_reason(evaluation)
    if ti is not None:
        ti.xcom_push(key=REASON_XCOM, value=reason)
    log.info(
        "model %s: %s%s",
        "BLESSED" if blessed else "NOT blessed",
        reason,
        "" if blessed else " -> infra-validate and push are skipped; serving is unchanged",
    )
    return blessed


class BlessingGateOperator(BaseOperator, SkipMixin):
    """Short-circuit on the evaluate result: unless it is blessed, skip every downstream task.

    The run still ends green; the reason is in the log and in XCom `reason`. (A small
    ShortCircuitOperator: importing the standard provider's would add ~0.15 s to each DAG parse.)
    """

    template_fields: Sequence[str] = ("evaluation",)
    ui_color = "#fff3e0"

    def __init__(self, *, evaluation, **kwargs) -> None:
        super().__init__(**kwargs)
        self.evaluation = evaluation

    def execute(self, context) -> bool:
        ti = context["ti"]
        if is_blessed(self.evaluation, ti):
            return True
        self.skip(
            ti=ti, tasks=[task for task in self.get_flat_relatives(upstream=False) if not task.is_teardown]
        )
        return False
