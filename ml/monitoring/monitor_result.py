"""What `monitor --span D` returns (the task's XCom), typed: the span's counts and verdicts per
version label, the alarm, and the retraining decision the monitor DAG's trigger acts on.

The numbers behind it stay in `<monitoring>/<span>/monitor.json` (`monitor_file`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from ml.artifact import Artifact, num


class LabelVerdict(BaseModel):
    """One version label's (or `all`'s) predictions and performance in the span."""

    version: int | None = None  # the version that answered under the label
    predictions: int = 0
    labelled: int = 0  # predictions whose label has landed
    realized: float | None = None  # the metric on the labelled ones (TFMA)
    estimated: float | None = None  # CBPE's estimate from the scores alone
    band: list[float | None] | None = None  # [lower, upper] of the metric's band (None: not judged)


class MonitorResult(Artifact):
    """The live model on one span, as of a cutoff."""

    span: str
    stage: Literal["estimated", "realized"] = "realized"  # before labels, or with those landed
    cutoff: str  # the labels and predictions counted were in by this time (UTC, ISO 8601)
    reused: bool = False  # nothing new since the previous result's cutoff: that result kept
    partial: bool = False  # not every label has landed yet
    counts: dict[str, float | None] = {}  # predictions, labelled, coverage
    by_label: dict[str, LabelVerdict] = {}
    alarm: bool = False  # a realized metric below its band on an alarm slice
    alarms: list[str] = []  # which
    withdrawn: dict | None = None  # an earlier alarm of this span this one restates away
    served_drift: list[str] = []  # features whose served inputs drift from training
    warnings: list[str] = []
    retrain: bool = False  # the decision (ml.results.retrain.performance_decision)
    reason: str = ""
    end_span: str | None = None
    trigger: Literal["performance", "served-drift"] = "performance"
    monitor_file: str | None = None  # <monitoring>/<span>/monitor.json
    tfma_dir: str | None = None

    def summary(self) -> str:
        """`span 2013-05-26 (realized): 812 predictions, 790 labelled (97 %); stable: realized
        0.702, estimated 0.744, band >= 0.715; ALARM`."""
        counts = self.counts
        line = f"span {self.span} ({self.stage}): {int(counts.get('predictions') or 0)} predictions"
        if self.stage == "realized":
            coverage = num(100 * (counts.get("coverage") or 0), 0)
            line += f", {int(counts.get('labelled') or 0)} labelled ({coverage} %)"
        for label, v in self.by_label.items():
            lower = v.band[0] if v.band else None
            line += f"; {label}: realized {num(v.realized)}, estimated {num(v.estimated)}"
            line += f", band >= {num(lower)}"
        if self.partial:
            line += "; partial"
        if self.reused:
            line += f"; nothing new since cutoff {self.cutoff}: that result kept"
        line += "; ALARM" if self.alarm else "; no alarm"
        if self.withdrawn:
            line += f"; withdraws the alarm of cutoff {self.withdrawn.get('cutoff')}"
        return line + (f"; {len(self.warnings)} warning(s)" if self.warnings else "")
