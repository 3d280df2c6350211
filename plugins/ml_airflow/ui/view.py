"""The pipeline's ML view, from `ml.results` queries only: the spans x checks grid, drift and
volume over time, training runs with their verdicts and the serving history.

Everything here is arrangement for display (colours, links, plotly.js figure specs); the
numbers come from the store as recorded by the steps.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ml.config import load_pipeline
from ml.results import ResultsStore, queries
from ml.spans import span_range, span_start

CHECKS = ("landed", "rows", "GE", "schema", "drift", "skew")


class Cell(BaseModel):
    state: str  # passed | failed | warn | skipped | missing
    text: str  # hover text
    url: str = ""  # the report behind the cell


class SpanColumn(BaseModel):
    span: str
    status: str
    cells: list[Cell]
    task_url: str = ""  # the validate (or ingest) task instance in the Airflow UI
    month_start: bool = False


class ModelRow(BaseModel):
    run_id: str
    first_span: str | None
    last_span: str | None
    blessed: bool | None
    decided_by: str | None
    reason: str | None
    thresholds: dict[str, Any] | None
    baseline_version: int | None
    pushed_version: int | None
    live: bool
    evaluated_at: str | None
    transform_digest: str | None = None
    weights_digest: str | None = None
    overall: dict[str, float | None]
    tfma_url: str


class ServingEvent(BaseModel):
    at: str | None
    event: str
    version: int
    run_id: str | None
    detail: str | None = None


def _check_cell(ran: Any, alarms: Any, severity_state: str, text: str, url: str) -> Cell:
    if not ran:
        return Cell(state="skipped", text=f"{text}: not run", url=url)
    if alarms:
        return Cell(state=severity_state, text=f"{text}: {alarms} alarm(s)", url=url)
    return Cell(state="passed", text=f"{text}: ok", url=url)


def span_cells(row: dict[str, Any], base: str) -> list[Cell]:
    """The six cells of one span (base = the pipeline's view URL)."""
    span, status = row["span"], row["status"]
    folder = f"{base}/spans/{span}"
    if status == "ingest_failed":
        failure = Cell(
            state="failed",
            text=f"{span}: ingest failed: {row.get('error') or ''}".strip(),
            url=f"{folder}/ingest_failure.json",
        )
        rest = [Cell(state="skipped", text=f"{span}: not ingested", url=failure.url) for _ in CHECKS[1:]]
        return [failure, *rest]
    validated = status in ("passed", "failed")
    rows = row.get("rows")
    split = f"{row.get('train_rows')} train / {row.get('eval_rows')} eval"
    cells = [
        Cell(state="passed", text=f"{span}: landed and ingested", url=f"{folder}/examples/summary.json"),
        Cell(
            state="passed" if rows else "warn",
            text=f"{span}: {rows} rows ({split})",
            url=f"{folder}/examples/summary.json",
        ),
    ]
    if not validated:
        return cells + [Cell(state="skipped", text=f"{span}: not validated yet") for _ in CHECKS[2:]]
    ge_total, ge_failed = row.get("ge_evaluated"), row.get("ge_failed") or 0
    cells.append(
        Cell(
            state="failed" if ge_failed else "passed",
            text=f"{span}: GE {(ge_total or 0) - ge_failed}/{ge_total} passed",
            url=f"{folder}/validation/data_docs/index.html",
        )
    )
    anomalies = row.get("schema_anomalies") or 0
    cells.append(
        Cell(
            state="failed" if anomalies else "passed",
            text=f"{span}: schema {anomalies} anomalies",
            url=f"{folder}/validation/anomalies.pbtxt",
        )
    )
    baseline = row.get("baseline_span")
    # the span against the one it was compared with, or against its baseline window's statistics
    against = f"?against={baseline}" if baseline else ("?against=baseline" if row.get("drift_ran") else "")
    drift_text = f"{span}: drift vs {baseline}" if baseline else f"{span}: drift"
    cells.append(
        _check_cell(
            row.get("drift_ran"), row.get("drift_alarms"), "warn", drift_text, f"{base}/stats/{span}{against}"
        )
    )
    cells.append(
        _check_cell(
            row.get("skew_ran"), row.get("skew_alarms"), "warn", f"{span}: skew", f"{base}/stats/{span}"
        )
    )
    return cells


def grid(store: ResultsStore, pipeline: str, base: str, task_urls: dict[str, str]) -> list[SpanColumn]:
    """One column per span from the first to the last recorded one (gaps = no data landed)."""
    rows = {r["span"]: r for r in queries.spans(store, pipeline)}
    if not rows:
        return []
    cfg, columns = load_pipeline(pipeline), []
    for day in span_range(cfg, min(rows), max(rows)):
        month_start = span_start(cfg, day).day == 1 and span_start(cfg, day).hour == 0
        row = rows.get(day)
        if row is None:
            cells = [Cell(state="missing", text=f"{day}: no span") for _ in CHECKS]
            columns.append(SpanColumn(span=day, status="missing", cells=cells, month_start=month_start))
            continue
        columns.append(
            SpanColumn(
                span=day,
                status=row["status"],
                cells=span_cells(row, base),
                task_url=task_urls.get(day, ""),
                month_start=month_start,
            )
        )
    return columns


# per cadence: tick label, one tick per span (ms or plotly's "M1"), up to how many spans
TICKS: dict[str, tuple[str, int | str, int]] = {
    "hourly": ("%H:00\n%b %d", 3_600_000, 48),
    "daily": ("%b %d\n%Y", 86_400_000, 31),
    "weekly": ("%b %d\n%Y", 7 * 86_400_000, 26),
    "monthly": ("%b\n%Y", "M1", 24),
}


def date_axis(spans: list[str], pipeline: str) -> dict[str, Any]:
    """A date x axis with one tick per span of the pipeline's cadence while they fit (not
    plotly's 12 h ticks)."""
    label, dtick, most = TICKS[load_pipeline(pipeline).span_cadence]
    axis: dict[str, Any] = {"type": "date", "tickformat": label}
    return axis | {"dtick": dtick} if len(spans) <= most else axis


def _ratio(value: float | None, threshold: float | None) -> float | None:
    if value is None or not threshold:
        return None
    return round(value / threshold, 4)


def distance_figure(store: ResultsStore, pipeline: str, check: str) -> dict[str, Any] | None:
    """Heatmap feature x span of distance / threshold (>= 1 = alarm), hover = distance."""
    series = queries.drift_series(store, pipeline, check)
    if not series:
        return None
    spans = sorted({r["span"] for r in series})
    features = sorted({r["feature"] for r in series})
    col = {s: i for i, s in enumerate(spans)}
    z: dict[str, list[float | None]] = {f: [None] * len(spans) for f in features}
    text: dict[str, list[str]] = {f: [""] * len(spans) for f in features}
    for r in series:
        i = col[r["span"]]
        z[r["feature"]][i] = _ratio(r["value"], r["threshold"])
        text[r["feature"]][i] = (
            f"{r['comparator']} {r['value']:.3f} / {r['threshold']:.2f}"
            if (r["value"] is not None and r["threshold"] is not None)
            else ""
        )
    heatmap = {
        "type": "heatmap",
        "x": spans,
        "y": features,
        "z": [z[f] for f in features],
        "text": [text[f] for f in features],
        "hovertemplate": "%{y} %{x}<br>%{text}<br>distance / threshold %{z}<extra></extra>",
        "zmin": 0,
        "zmax": 1.5,
        "colorscale": [
            [0, "#f0fff4"],
            [0.5, "#9ae6b4"],
            [0.66, "#faf089"],
            [0.6667, "#fc8181"],
            [1, "#c53030"],
        ],
        "colorbar": {"title": {"text": "/ threshold"}, "thickness": 10},
        "xgap": 0,
        "ygap": 1,
    }
    lines = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": f,
            "x": spans,
            "y": z[f],
            "xaxis": "x2",
            "yaxis": "y2",
            "hovertemplate": f"{f} %{{x}}: %{{y}}<extra></extra>",
        }
        for f in features
    ]
    threshold = {
        "type": "scatter",
        "mode": "lines",
        "name": "threshold",
        "x": [spans[0], spans[-1]],
        "y": [1, 1],
        "xaxis": "x2",
        "yaxis": "y2",
        "line": {"dash": "dash", "color": "#c53030"},
    }
    dates = date_axis(spans, pipeline)
    layout = {
        "height": 260 + 22 * len(features),
        "margin": {"l": 90, "r": 20, "t": 10, "b": 30},
        "xaxis": {**dates, "anchor": "y"},
        "xaxis2": {**dates, "anchor": "y2", "matches": "x"},
        "yaxis": {"domain": [0.52, 1], "automargin": True},
        "yaxis2": {"domain": [0, 0.36], "title": {"text": "distance / threshold"}, "rangemode": "tozero"},
        "legend": {"orientation": "h", "y": -0.15},
    }
    return {"data": [heatmap, *lines, threshold], "layout": layout}


def volume_figure(store: ResultsStore, pipeline: str) -> dict[str, Any] | None:
    """Rows per span (bars) and the share of positive labels (line, right axis)."""
    rows = queries.spans(store, pipeline)
    if not rows:
        return None
    spans = [r["span"] for r in rows]
    return {
        "data": [
            {
                "type": "bar",
                "name": "rows",
                "x": spans,
                "y": [r["rows"] for r in rows],
                "marker": {"color": "#90cdf4"},
            },
            {
                "type": "scatter",
                "mode": "lines",
                "name": "label positive rate",
                "x": spans,
                "y": [r.get("label_positive_rate") for r in rows],
                "yaxis": "y2",
                "line": {"color": "#dd6b20"},
            },
        ],
        "layout": {
            "height": 240,
            "margin": {"l": 50, "r": 50, "t": 10, "b": 30},
            "xaxis": date_axis(spans, pipeline),
            "yaxis": {"title": {"text": "rows"}},
            "yaxis2": {
                "overlaying": "y",
                "side": "right",
                "range": [0, 1],
                "title": {"text": "positive label share"},
            },
            "legend": {"orientation": "h", "y": 1.15},
        },
    }


def null_figure(store: ResultsStore, pipeline: str) -> dict[str, Any] | None:
    """Null fraction per raw column and span (heatmap; columns that are never null left out)."""
    rows = queries.null_rates(store, pipeline)
    columns = sorted({r["column"] for r in rows if r["null_fraction"] > 0})
    if not columns:
        return None
    spans = sorted({r["span"] for r in rows})
    value = {(r["column"], r["span"]): r["null_fraction"] for r in rows}
    return {
        "data": [
            {
                "type": "heatmap",
                "x": spans,
                "y": columns,
                "z": [[value.get((c, s)) for s in spans] for c in columns],
                "colorscale": "Blues",
                "zmin": 0,
                "colorbar": {"title": {"text": "null share"}},
                "hovertemplate": "%{y} %{x}: %{z:.1%} null<extra></extra>",
            }
        ],
        "layout": {
            "height": 80 + 22 * len(columns),
            "margin": {"l": 100, "r": 20, "t": 10, "b": 30},
            "xaxis": date_axis(spans, pipeline),
        },
    }


def slice_figure(store: ResultsStore, pipeline: str, metric: str = "auc") -> dict[str, Any] | None:
    """Heatmap slice x training run (labelled with its served version) of the candidate's
    `metric`: a slice that degrades release after release shows as a row going red."""
    rows = queries.slice_metric_by_run(store, pipeline, metric)
    if not rows:
        return None
    labels = {r["run_id"]: r["label"] for r in rows}
    runs = list(dict.fromkeys(r["run_id"] for r in rows))
    slices = list(dict.fromkeys(r["slice"] for r in rows))
    value = {(m["run_id"], m["slice"]): m["value"] for m in rows}
    z = [[value.get((run, s)) for run in runs] for s in slices]
    runs = [labels[r] for r in runs]
    return {
        "data": [
            {
                "type": "heatmap",
                "x": runs,
                "y": slices,
                "z": z,
                "zmin": 0.5,
                "zmax": 1.0,
                "colorscale": "RdYlGn",
                "colorbar": {"title": {"text": metric}, "thickness": 10},
                "hovertemplate": f"%{{y}} · %{{x}}: {metric} %{{z:.3f}}<extra></extra>",
            }
        ],
        "layout": {
            "height": 120 + 18 * len(slices),
            "margin": {"l": 110, "r": 20, "t": 10, "b": 90},
            "xaxis": {"type": "category"},
            "yaxis": {"autorange": "reversed"},
        },
    }


def model_rows(store: ResultsStore, pipeline: str, base: str) -> list[ModelRow]:
    overall: dict[str, dict[str, float | None]] = {}
    for m in queries.model_metrics(store, pipeline):
        if m["model"] == "candidate" and m["slice"] == "Overall":
            overall.setdefault(m["run_id"], {})[m["metric"]] = m["value"]
    result = []
    for row in queries.models(store, pipeline)[::-1]:  # newest first
        evaluation = (row.get("evaluation_dir") or "").rstrip("/").rsplit("/", 1)[-1] or row["run_id"]
        result.append(
            ModelRow(
                run_id=row["run_id"],
                first_span=row.get("first_span"),
                last_span=row.get("last_span"),
                blessed=row.get("blessed"),
                decided_by=row.get("decided_by"),
                reason=row.get("reason"),
                thresholds=row.get("thresholds"),
                baseline_version=row.get("baseline_version"),
                pushed_version=row.get("pushed_version"),
                live=bool(row.get("live")),
                evaluated_at=row.get("evaluated_at"),
                transform_digest=row.get("transform_digest"),
                weights_digest=row.get("weights_digest"),
                overall=overall.get(row["run_id"], {}),
                tfma_url=f"{base}/tfma/{evaluation}",
            )
        )
    return result


def serving_history(store: ResultsStore, pipeline: str) -> list[ServingEvent]:
    events = sorted(queries.serving_events(store, pipeline), key=lambda e: (e.get("at") or "", e["version"]))
    return [ServingEvent.model_validate(e) for e in events[::-1]]
