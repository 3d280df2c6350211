"""Data-aware retraining: does a newly validated span call for a new candidate model?

Configured in pipeline.yaml under `training.retrain_on`:
- `drift_features`: a drift alarm on one of these features in the span triggers training;
- `new_spans`: this many validated spans after the live model's training window trigger it
  (with nothing served: this many validated spans in all).
Both read the results store through ml.results.queries, like the CLI and the UI.
"""

from __future__ import annotations

import functools
from typing import Literal

from ml.artifact import Artifact
from ml.config import PipelineConfig
from ml.results import queries
from ml.results.store import ResultsStore


class RetrainDecision(Artifact):
    """Whether a span calls for a new candidate model, why, and on which window's end."""

    span: str  # the span judged
    retrain: bool
    reason: str  # in words, e.g. "drift alarm on dep_delay in span 2013-02-01"
    end_span: str | None = None  # train on the window ending here (the newest validated span)
    trigger: Literal["data", "performance", "served-drift"] = "data"
    live_version: int | None = None  # data: the stable version when judged
    live_window_end: str | None = None  # data: the last span the live model was trained on
    new_validated_spans: int | None = None  # data: validated spans after that window
    drift_alarms: list[str] = []  # data: watched features with a drift alarm in the span

    def summary(self) -> str:
        """`span 2013-02-01: retrain: drift alarm on dep_delay in span 2013-02-01`."""
        return f"span {self.span}: {'retrain' if self.retrain else 'no retrain'}: {self.reason}"


def retrain_decision(store: ResultsStore, cfg: PipelineConfig, span: str) -> RetrainDecision:
    """The decision for the span that just passed validation (trigger `data`)."""
    rules = cfg.training.retrain_on
    watched, needed = set(rules.drift_features), rules.new_spans
    alarms = sorted(
        c["name"]
        for c in queries.checks(store, cfg.name, span=span, check="drift")
        if not c["passed"] and c["name"] in watched
    )
    live = next((m for m in queries.models(store, cfg.name) if m["live"]), None)
    after = live["last_span"] if live else None
    new = [
        s["span"]
        for s in queries.spans(store, cfg.name)
        if s["status"] == "passed" and (after is None or s["span"] > after)
    ]
    decided = functools.partial(
        RetrainDecision,
        span=span,
        end_span=max([span, *new]),  # train on the newest validated span, not the triggering one
        live_version=live["pushed_version"] if live else None,
        live_window_end=after,
        new_validated_spans=len(new),
        drift_alarms=alarms,
    )
    if alarms:
        return decided(retrain=True, reason=f"drift alarm on {', '.join(alarms)} in span {span}")
    if needed and len(new) >= needed and span in new:
        since = f"since the live model's window (ends {after})" if after else "and no model is served"
        return decided(
            retrain=True,
            reason=f"{len(new)} validated spans {since} (training.retrain_on.new_spans: {needed})",
        )
    return decided(
        retrain=False,
        reason=(
            f"no drift alarm on {', '.join(sorted(watched)) or 'a watched feature'}; "
            f"{len(new)} of {needed or '-'} new validated spans"
        ),
    )


def performance_decision(
    store: ResultsStore, cfg: PipelineConfig, span: str, served_drift: list[str] | None = None
) -> RetrainDecision:
    """The decision from the span's newest monitoring: a realized
    drop below the band on an alarm slice (ml.monitoring.monitor) retrains on the newest
    validated span (trigger `performance`); so does a drift of the served inputs on one of
    `monitoring.served_drift_features` (`served_drift`, trigger `served-drift`); estimates,
    prediction drift and coverage only warn."""
    rows = queries.monitor_runs(store, cfg.name, span=span)
    alarms = [
        f"{r['version_label']}: {r['alarms']}" for r in rows if r["alarm"] and r["version_label"] != "all"
    ]
    validated = [s["span"] for s in queries.spans(store, cfg.name) if s["status"] == "passed"]
    end_span = max(validated) if validated else None
    trigger: Literal["performance", "served-drift"] = "performance"
    if not alarms and served_drift:
        trigger = "served-drift"
        alarms = [f"the served inputs drift from training on {', '.join(served_drift)}"]
    decided = functools.partial(RetrainDecision, span=span, end_span=end_span, trigger=trigger)
    if not alarms:
        return decided(retrain=False, reason=f"no performance alarm in span {span}")
    if not cfg.monitoring.retrain_on_alarm:
        return decided(retrain=False, reason=f"{alarms[0]} (monitoring.retrain_on_alarm is off)")
    if end_span is None:
        return decided(retrain=False, reason=f"{alarms[0]}, but no validated span to train on")
    return decided(retrain=True, reason=f"{trigger}: {alarms[0]} in span {span}")


def no_retrain_before_labels(span: str) -> RetrainDecision:
    """An estimate before labels never retrains (ml.monitoring: it warns)."""
    return RetrainDecision(
        span=span, retrain=False, reason="an estimate before labels never retrains", trigger="performance"
    )
