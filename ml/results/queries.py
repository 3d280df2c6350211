"""Every read of the results store: the CLI, the ML view and the retraining trigger use these.

Each function takes the store and the pipeline name and returns plain dicts (one per row).
"""

from __future__ import annotations

import sqlalchemy as sa

from ml.results import schema as t
from ml.results.store import ResultsStore


def spans(store: ResultsStore, pipeline: str, last: int | None = None) -> list[dict]:
    """Span rows in span order (the newest `last` of them when given)."""
    query = sa.select(t.spans).where(t.spans.c.pipeline == pipeline).order_by(t.spans.c.span.desc())
    rows = store.read(query.limit(last) if last else query)
    return rows[::-1]


def checks(
    store: ResultsStore, pipeline: str, span: str | None = None, check: str | None = None
) -> list[dict]:
    """Check rows (GE expectations, schema anomalies, drift and skew features)."""
    query = sa.select(t.checks).where(t.checks.c.pipeline == pipeline)
    if span:
        query = query.where(t.checks.c.span == span)
    if check:
        query = query.where(t.checks.c.check == check)
    return store.read(query.order_by(t.checks.c.span, t.checks.c.check, t.checks.c.name))


def drift_series(store: ResultsStore, pipeline: str, check: str = "drift") -> list[dict]:
    """Distance per span and feature of the drift (or skew) check, with its threshold."""
    c = t.checks.c
    query = (
        sa.select(
            c.span,
            c.name.label("feature"),
            c.comparator,
            c.value,
            c.threshold,
            (~c.passed).label("alarm"),
            c.baseline_span,
        )
        .where((c.pipeline == pipeline) & (c.check == check))
        .order_by(c.name, c.span)
    )
    return store.read(query)


def null_rates(store: ResultsStore, pipeline: str) -> list[dict]:
    """The null fraction of every raw column per span (from the span's statistics)."""
    c = t.span_columns.c
    return store.read(
        sa.select(c.span, c.column, c.null_fraction).where(c.pipeline == pipeline).order_by(c.column, c.span)
    )


def serving_events(store: ResultsStore, pipeline: str) -> list[dict]:
    e = t.serving_events.c
    return store.read(sa.select(t.serving_events).where(e.pipeline == pipeline).order_by(e.version, e.event))


def live_version(store: ResultsStore, pipeline: str) -> int | None:
    """The version the `stable` label points at (ml/serving/labels.py); for a history recorded
    before labels: the highest pushed version that was not rolled back."""
    events = serving_events(store, pipeline)
    stable = [e["version"] for e in events if e["event"] == "stable"]
    if stable:
        return stable[0]
    retired = {e["version"] for e in events if e["event"] in ("rollback", "retire")}
    pushed = [e["version"] for e in events if e["event"] == "push" and e["version"] not in retired]
    return max(pushed) if pushed else None


def models(store: ResultsStore, pipeline: str) -> list[dict]:
    """Training runs with their verdict, pushed version and whether that version is live."""
    rows = store.read(
        sa.select(t.models).where(t.models.c.pipeline == pipeline).order_by(t.models.c.evaluated_at)
    )
    events = serving_events(store, pipeline)
    pushed = {e["run_id"]: e["version"] for e in events if e["event"] == "push"}
    live = live_version(store, pipeline)
    for row in rows:
        row["pushed_version"] = pushed.get(row["run_id"])
        row["live"] = row["pushed_version"] is not None and row["pushed_version"] == live
    return rows


def model_metrics(store: ResultsStore, pipeline: str, run_id: str | None = None) -> list[dict]:
    m = t.model_metrics.c
    query = sa.select(t.model_metrics).where(m.pipeline == pipeline)
    if run_id:
        query = query.where(m.run_id == run_id)
    return store.read(query.order_by(m.run_id, m.slice, m.model, m.metric))


def slice_metric_by_run(
    store: ResultsStore, pipeline: str, metric: str = "auc", model: str = "candidate"
) -> list[dict]:
    """`[{run_id, pushed_version, label, slice, value}]`: each slice's `metric` per evaluated
    training run, runs in evaluation order; `label` is `run (vN)` for a pushed run."""
    runs = models(store, pipeline)
    order = {r["run_id"]: i for i, r in enumerate(runs)}
    version = {r["run_id"]: r["pushed_version"] for r in runs}
    m = t.model_metrics.c
    rows = store.read(
        sa.select(m.run_id, m.slice, m.value).where(
            (m.pipeline == pipeline) & (m.metric == metric) & (m.model == model)
        )
    )
    for row in rows:
        row["pushed_version"] = v = version.get(row["run_id"])
        row["label"] = row["run_id"] + (f" (v{v})" if v else "")
    return sorted(rows, key=lambda r: (r["slice"] != "Overall", r["slice"], order.get(r["run_id"], 0)))


def spans_of_version(store: ResultsStore, pipeline: str, version: int, role: str = "train") -> list[str]:
    """Which spans trained (or evaluated) the model behind a served version."""
    e, s = t.serving_events.c, t.model_spans.c
    query = (
        sa.select(s.span)
        .join_from(t.model_spans, t.serving_events, (e.pipeline == s.pipeline) & (e.run_id == s.run_id))
        .where((e.pipeline == pipeline) & (e.version == version) & (e.event == "push") & (s.role == role))
        .order_by(s.span)
    )
    return [r["span"] for r in store.read(query)]


def models_of_span(store: ResultsStore, pipeline: str, span: str) -> list[dict]:
    """Which training runs saw a span, and in which role (train | eval)."""
    s = t.model_spans.c
    query = (
        sa.select(s.run_id, s.role)
        .where((s.pipeline == pipeline) & (s.span == span))
        .order_by(s.run_id, s.role)
    )
    return store.read(query)


def monitor_runs(
    store: ResultsStore, pipeline: str, span: str | None = None, latest: bool = True
) -> list[dict]:
    """Monitor rows in span order, one per version label; `latest`: only each span's newest
    judgement (the newest realized cutoff, else the newest estimated one before labels), with
    `restated`: how many earlier cutoffs of that stage it replaced; else every cutoff."""
    m = t.monitor_runs.c
    query = sa.select(t.monitor_runs).where(m.pipeline == pipeline)
    if span:
        query = query.where(m.span == span)
    rows = store.read(query.order_by(m.span, m.cutoff, m.version_label))
    cutoffs: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        seen = cutoffs.setdefault((row["span"], row["stage"]), [])
        if row["cutoff"] not in seen:
            seen.append(row["cutoff"])
    for row in rows:
        row["restated"] = len(cutoffs[(row["span"], row["stage"])]) - 1
    if latest:
        stage = {r["span"]: "realized" if (r["span"], "realized") in cutoffs else "estimated" for r in rows}
        rows = [
            r
            for r in rows
            if r["stage"] == stage[r["span"]] and r["cutoff"] == cutoffs[(r["span"], r["stage"])][-1]
        ]
    return rows


def monitor_metrics(store: ResultsStore, pipeline: str, span: str, cutoff: str | None = None) -> list[dict]:
    """Realized metrics per version label and slice of one monitoring (default: the newest)."""
    m = t.monitor_metrics.c
    if cutoff is None:
        newest = store.read(
            sa.select(sa.func.max(m.cutoff).label("c")).where((m.pipeline == pipeline) & (m.span == span))
        )
        cutoff = newest[0]["c"] if newest else None
    query = sa.select(t.monitor_metrics).where(
        (m.pipeline == pipeline) & (m.span == span) & (m.cutoff == cutoff)
    )
    return store.read(query.order_by(m.version_label, m.slice, m.metric))
