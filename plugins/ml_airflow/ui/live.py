"""The ML view's "Live model" section, from `ml.results.queries.monitor_runs` only: realized and
estimated performance per span and version label with the alarm band, label coverage, alarms and
restatements; each span links to its monitoring page (the verdict, then the TFMA tables)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ml.results import ResultsStore, queries
from ml_airflow.ui.view import date_axis

ALL = "all"
COLOURS = {"stable": "#2b6cb0", "canary": "#dd6b20"}


class LiveRow(BaseModel):
    span: str
    stage: str = "realized"  # estimated: before labels, the CBPE estimate only
    version_label: str
    version: int | None
    predictions: int
    labelled: int
    coverage: float | None
    metric: str | None
    realized: float | None
    estimated: float | None
    estimation_error: float | None
    band_low: float | None
    band_high: float | None
    score_jsd: float | None
    alarm: bool
    alarms: str | None
    withdrawn: str | None = None
    warnings: str | None
    partial: bool
    restated: int
    cutoff: str
    unknown_ids: int | None
    no_label_row: int | None
    url: str

    @property
    def served_warnings(self) -> list[str]:
        """The warnings about the served inputs (schema, drift from training, skew)."""
        return [w for w in (self.warnings or "").split("; ") if w.startswith("served inputs")]


def live_rows(store: ResultsStore, pipeline: str, base: str) -> list[LiveRow]:
    """Each span's newest monitoring, one row per version label (`all` only when several served)."""
    rows = queries.monitor_runs(store, pipeline)
    labels_per_span: dict[str, int] = {}
    for r in rows:
        if r["version_label"] != ALL:
            labels_per_span[r["span"]] = labels_per_span.get(r["span"], 0) + 1
    shown = [r for r in rows if r["version_label"] != ALL or labels_per_span.get(r["span"], 0) != 1]
    return [
        LiveRow.model_validate({**r, "alarm": bool(r["alarm"]), "url": f"{base}/monitor/{r['span']}"})
        for r in shown[::-1]  # newest first
    ]


def live_figure(rows: list[LiveRow], pipeline: str) -> dict[str, Any] | None:
    """Per version label: realized (solid) and estimated (dotted) metric per span, the alarm band
    (shaded, lower edge = alarm line), alarms as red markers; label coverage as bars below."""
    rows = [r for r in rows if r.version_label != ALL][::-1]
    if not rows:
        return None
    metric = rows[0].metric or "metric"
    data: list[dict[str, Any]] = []
    for label in sorted({r.version_label for r in rows}):
        part = [r for r in rows if r.version_label == label]
        spans = [r.span for r in part]
        colour = COLOURS.get(label, "#4a5568")
        data += [
            {
                "type": "scatter",
                "mode": "lines",
                "x": spans,
                "y": [r.band_high for r in part],
                "line": {"width": 0},
                "showlegend": False,
                "hoverinfo": "skip",
            },
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{label}: band",
                "x": spans,
                "y": [r.band_low for r in part],
                "fill": "tonexty",
                "fillcolor": "rgba(160,174,192,0.25)",
                "line": {"width": 1, "dash": "dash", "color": "#a0aec0"},
                "hovertemplate": f"{label} %{{x}}: alarm below %{{y:.3f}}<extra></extra>",
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": f"{label}: realized {metric}",
                "x": spans,
                "y": [r.realized for r in part],
                "line": {"color": colour},
                "text": [f"n={r.labelled}, coverage {100 * (r.coverage or 0):.0f} %" for r in part],
                "hovertemplate": f"{label} %{{x}}: realized %{{y:.3f}} (%{{text}})<extra></extra>",
            },
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{label}: estimated (CBPE)",
                "x": spans,
                "y": [r.estimated for r in part],
                "line": {"color": colour, "dash": "dot"},
                "hovertemplate": f"{label} %{{x}}: estimated %{{y:.3f}}<extra></extra>",
            },
            {
                "type": "bar",
                "name": f"{label}: label coverage",
                "x": spans,
                "y": [r.coverage for r in part],
                "marker": {"color": colour, "opacity": 0.35},
                "xaxis": "x2",
                "yaxis": "y2",
                "hovertemplate": f"{label} %{{x}}: %{{y:.0%}} labelled<extra></extra>",
            },
        ]
    alarms = [r for r in rows if r.alarm]
    if alarms:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "alarm (retrains)",
                "x": [r.span for r in alarms],
                "y": [r.realized for r in alarms],
                "marker": {"color": "#c53030", "size": 13, "symbol": "x"},
                "text": [r.alarms or "" for r in alarms],
                "hovertemplate": "%{x}: %{text}<extra></extra>",
            }
        )
    dates = date_axis(sorted({r.span for r in rows}), pipeline)
    return {
        "data": data,
        "layout": {
            "height": 420,
            "margin": {"l": 60, "r": 20, "t": 10, "b": 30},
            "xaxis": {**dates, "anchor": "y"},
            "xaxis2": {**dates, "anchor": "y2", "matches": "x"},
            "yaxis": {"domain": [0.35, 1], "title": {"text": metric}},
            "yaxis2": {
                "domain": [0, 0.22],
                "title": {"text": "coverage"},
                "range": [0, 1],
                "tickformat": ".0%",
            },
            "legend": {"orientation": "h", "y": -0.12},
        },
    }
