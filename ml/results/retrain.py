"""Data-aware retraining: does a newly validated span call for a new candidate model?

Configured in pipeline.yaml under `training.retrain_on`:
- `drift_features`: a drift alarm on one of these features in the span triggers training;
- `new_spans`: this many validated spans after the live model's training window trigger it
  (with nothing served: this many validated spans in all).
Both read the results store through ml.results.queries, like the CLI and the UI.
"""

from __future__ import annotations

from ml.config import PipelineConfig
from ml.results import queries
from ml.results.store import ResultsStore


def retrain_decision(store: ResultsStore, cfg: PipelineConfig, span: str) -> dict:
    """`{retrain, reason, span, ...}` for the span that just passed validation."""
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
    base = {
        "span": span,
        "end_span": max([span, *new]),  # train on the newest validated span, not the triggering one
        "live_version": live["pushed_version"] if live else None,
        "live_window_end": after,
        "new_validated_spans": len(new),
        "drift_alarms": alarms,
    }
    if alarms:
        return {**base, "retrain": True, "reason": f"drift alarm on {', '.join(alarms)} in span {span}"}
    if needed and len(new) >= needed and span in new:
        since = f"since the live model's window (ends {after})" if after else "and no model is served"
        return {
            **base,
            "retrain": True,
            "reason": f"{len(new)} validated spans {since} (training.retrain_on.new_spans: {needed})",
        }
    return {
        **base,
        "retrain": False,
        "reason": (
            f"no drift alarm on {', '.join(sorted(watched)) or 'a watched feature'}; "
            f"{len(new)} of {needed or '-'} new validated spans"
        ),
    }


def performance_decision(
    store: ResultsStore, cfg: PipelineConfig, span: str, served_drift: list[str] | None = None
) -> dict:
    """`{retrain, reason, span, end_span, trigger}` from the span's newest monitoring: a realized
    drop below the band on an alarm slice (ml.monitoring.monitor) retrains on the newest
    validated span (trigger `performance`); so does a drift of the served inputs on one of
    `monitoring.served_drift_features` (`served_drift`, trigger `served-drift`); estimates,
    prediction drift and coverage only warn."""
    rows = queries.monitor_runs(store, cfg.name, span=span)
    alarms = [
        f"{r['version_label']}: {r['alarms']}" for r in rows if r["alarm"] and r["version_label"] != "all"
    ]
    validated = [s["span"] for s in queries.spans(store, cfg.name) if s["status"] == "passed"]
    base = {"span": span, "end_span": max(validated) if validated else None, "trigger": "performance"}
    if not alarms and served_drift:
        base["trigger"] = "served-drift"
        alarms = [f"the served inputs drift from training on {', '.join(served_drift)}"]
    if not alarms:
        return {**base, "retrain": False, "reason": f"no performance alarm in span {span}"}
    if not cfg.monitoring.retrain_on_alarm:
        return {**base, "retrain": False, "reason": f"{alarms[0]} (monitoring.retrain_on_alarm is off)"}
    if base["end_span"] is None:
        return {**base, "retrain": False, "reason": f"{alarms[0]}, but no validated span to train on"}
    return {**base, "retrain": True, "reason": f"{base['trigger']}: {alarms[0]} in span {span}"}
