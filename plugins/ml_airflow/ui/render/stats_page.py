"""Context of the statistics page: one span's statistics, optionally against another span's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ml.tfrecord import read_statistics as load_statistics
from ml_airflow.ui.render.stats import aligned, histogram_figure, statistics_view, top_values_figure


def context(
    span: str, path: Path, against: str | None, other_path: Path | None, source: str = ""
) -> dict[str, Any]:
    """The statistics page of `path` (beside `other_path`'s, named `against`); `source`: where
    the statistics file lives, relative to the pipeline's artifacts (said on the page)."""
    view = statistics_view(load_statistics(path))
    other = statistics_view(load_statistics(other_path)) if other_path else None
    other_num = {row.name: row for row in other.numeric} if other else {}
    other_cat = {row.name: row for row in other.categorical} if other else {}
    figures: dict[str, dict] = {}
    for row in view.numeric:
        hists = [(span, row.histogram)]
        if row.name in other_num:
            hists.append((against or "", other_num[row.name].histogram))
        figures[row.name] = histogram_figure(row.name, aligned(hists))
    for cat in view.categorical:
        tops = [(span, cat.top_values)]
        if cat.name in other_cat:
            tops.append((against or "", other_cat[cat.name].top_values))
        figures[cat.name] = top_values_figure(cat.name, tops)
    return {
        "span": span,
        "against": against,
        "view": view,
        "other": other,
        "figures": figures,
        "source": source or path.name,
    }
