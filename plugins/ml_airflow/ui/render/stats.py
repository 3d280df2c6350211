"""TFDV statistics (`stats.tfrecord`, a `DatasetFeatureStatisticsList`, read by
`ml.tfrecord.read_statistics` without TensorFlow) as table rows and plotly.js traces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class NumericRow:
    name: str
    count: int
    missing_pct: float
    mean: float
    std_dev: float
    zeros_pct: float
    min: float
    median: float
    max: float
    histogram: dict[str, list] = field(default_factory=dict)


@dataclass
class CategoricalRow:
    name: str
    count: int
    missing_pct: float
    unique: int
    top: str
    top_freq: float
    avg_length: float
    top_values: dict[str, list] = field(default_factory=dict)


@dataclass
class StatsView:
    num_examples: int
    numeric: list[NumericRow]
    categorical: list[CategoricalRow]


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def _standard_histogram(num_stats: Any) -> dict[str, list]:
    for hist in num_stats.histograms:
        if hist.type == hist.STANDARD:
            buckets = list(hist.buckets)
            return {
                "x": [(b.low_value + b.high_value) / 2 for b in buckets],
                "width": [max(b.high_value - b.low_value, 1e-9) for b in buckets],
                "y": [b.sample_count for b in buckets],
            }
    return {"x": [], "width": [], "y": []}


def _feature_name(feature: Any) -> str:
    return ".".join(feature.path.step) or feature.name


def statistics_view(stats: Any) -> StatsView:
    """The first dataset of the list as table rows (features sorted by name)."""
    if not stats.datasets:
        return StatsView(0, [], [])
    dataset = stats.datasets[0]
    total = dataset.num_examples
    numeric: list[NumericRow] = []
    categorical: list[CategoricalRow] = []
    for feature in sorted(dataset.features, key=_feature_name):
        kind = feature.WhichOneof("stats")
        if kind == "num_stats":
            s = feature.num_stats
            common = s.common_stats
            numeric.append(
                NumericRow(
                    name=_feature_name(feature),
                    count=common.num_non_missing,
                    missing_pct=_pct(common.num_missing, total),
                    mean=s.mean,
                    std_dev=s.std_dev,
                    zeros_pct=_pct(s.num_zeros, common.num_non_missing),
                    min=s.min,
                    median=s.median,
                    max=s.max,
                    histogram=_standard_histogram(s),
                )
            )
        elif kind == "string_stats":
            s = feature.string_stats
            common = s.common_stats
            top = list(s.top_values)
            buckets = list(s.rank_histogram.buckets)[:20]
            categorical.append(
                CategoricalRow(
                    name=_feature_name(feature),
                    count=common.num_non_missing,
                    missing_pct=_pct(common.num_missing, total),
                    unique=s.unique,
                    top=top[0].value if top else "",
                    top_freq=top[0].frequency if top else 0.0,
                    avg_length=s.avg_length,
                    top_values={"x": [b.label for b in buckets], "y": [b.sample_count for b in buckets]},
                )
            )
    return StatsView(total, numeric, categorical)


def _edges(hist: dict[str, list]) -> list[tuple[float, float]]:
    return [(x - w / 2, x + w / 2) for x, w in zip(hist["x"], hist["width"], strict=True)]


def rebinned(hist: dict[str, list], edges: list[float]) -> dict[str, list]:
    """`hist` moved onto the buckets `edges[i]..edges[i+1]`: each bucket's count spread evenly
    over its range (TFDV's own assumption for a standard histogram), so the total is kept."""
    counts = [0.0] * (len(edges) - 1)
    for (low, high), count in zip(_edges(hist), hist["y"], strict=True):
        for i in range(len(counts)):
            a, b = edges[i], edges[i + 1]
            if high - low < 1e-9:  # a point mass: the bucket it lies in (the last one is closed)
                if a <= low < b or (i == len(counts) - 1 and low == b):
                    counts[i] += count
                    break
            else:
                counts[i] += count * max(0.0, min(high, b) - max(low, a)) / (high - low)
    return {
        "x": [(edges[i] + edges[i + 1]) / 2 for i in range(len(counts))],
        "width": [edges[i + 1] - edges[i] for i in range(len(counts))],
        "y": [round(c, 6) for c in counts],
    }


def aligned(hists: list[tuple[str, dict[str, list]]], buckets: int = 10) -> list[tuple[str, dict[str, list]]]:
    """Histograms of several spans on the same bucket edges (equal width over their joint range),
    so an overlay compares like with like."""
    ranges = [edge for _, hist in hists for edge in _edges(hist)]
    if len(hists) < 2 or not ranges:
        return hists
    low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
    if high - low < 1e-9:
        return hists
    edges = [low + (high - low) * i / buckets for i in range(buckets + 1)]
    return [(label, rebinned(hist, edges)) for label, hist in hists]


def histogram_figure(name: str, hists: list[tuple[str, dict[str, list]]]) -> dict[str, Any]:
    """A plotly.js figure (data + layout) overlaying one bar trace per (label, histogram)."""
    data = [
        {"type": "bar", "name": label, "opacity": 0.6, **hist, "hovertemplate": "%{x}: %{y}<extra></extra>"}
        for label, hist in hists
    ]
    return {"data": data, "layout": _small_layout(name, barmode="overlay")}


def top_values_figure(name: str, tops: list[tuple[str, dict[str, list]]]) -> dict[str, Any]:
    data = [{"type": "bar", "name": label, **top} for label, top in tops]
    return {"data": data, "layout": _small_layout(name, barmode="group")}


def _small_layout(title: str, **extra: Any) -> dict[str, Any]:
    return {
        "height": 160,
        "width": 320,
        "margin": {"l": 35, "r": 5, "t": 5, "b": 30},
        "showlegend": False,
        "font": {"size": 10},
        **extra,
    }
