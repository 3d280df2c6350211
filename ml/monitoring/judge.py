"""One judged group's verdict on a span (a version that served it, or all of them): the CBPE
estimate and the realized metric per alarm slice against the version's band, alarms and
warnings. Pure: rows in, a dict out (tests/unit/test_monitoring_stats.py).

Two stages: `estimated`, as soon as the span's prediction log is complete (no labels yet: the
band at the number of predictions, an estimated drop warns, never alarms), and `realized`, once
labels have landed or are overdue (the band at the number of labelled predictions; a realized
value below it alarms, on a slice with at least `min_labelled` labelled predictions, and only
when the span's labels are complete: a partial span's labelled rows are not a random sample
(late labels are late for a reason), so there it warns and is judged again when the rest lands).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ml.config_schema import Monitoring
from ml.model.slices import OVERALL
from ml.monitoring.estimate import estimate, js_divergence
from ml.monitoring.reference import Reference

ESTIMATED, REALIZED = "estimated", "realized"


def rows_of_slice(rows: pd.DataFrame, slice_name: str) -> pd.Series:
    """A mask of the rows in `Overall` or `column=value`."""
    if slice_name == OVERALL:
        return pd.Series(True, index=rows.index)
    column, value = slice_name.split("=", 1)
    return rows[column].astype(str) == value if column in rows else pd.Series(False, index=rows.index)


def checked(spec: Monitoring, rows: pd.DataFrame, stage: str) -> int:
    """How many of the group's alarm slices have enough rows to be judged (their count is the K
    of the per-span false-alarm rate)."""
    counted = rows if stage == ESTIMATED else rows[rows["y"].notna()]
    return sum(int(rows_of_slice(counted, name).sum()) >= spec.min_labelled for name in spec.alarm_slices)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def judge_group(
    spec: Monitoring,
    rows: pd.DataFrame,
    realized: dict[str, dict],
    reference: Reference | None,
    probabilities: np.ndarray | None,
    quantile: float,
    *,
    stage: str,
    partial: bool,
) -> dict[str, Any]:
    """The verdict of one group. `rows`: its predictions (`score`, `y` NA where unlabelled, the
    slice columns); `realized`: TFMA's `{slice: {metric: value}}`; `probabilities`: the rows'
    calibrated scores (None without a reference); `quantile`: each check's one-sided level."""
    metric = spec.metric
    labelled_mask = rows["y"].notna().to_numpy() if stage == REALIZED else np.zeros(len(rows), bool)
    scores = rows["score"].to_numpy(dtype=float)
    slices, alarms, warnings = [], [], []
    for name in spec.alarm_slices:
        mask = rows_of_slice(rows, name).to_numpy()
        n_predictions, n_labelled = int(mask.sum()), int((mask & labelled_mask).sum())
        n = n_labelled if stage == REALIZED else n_predictions
        band = (
            reference.band(metric, name, n, quantile, spec.bootstrap) if reference is not None and n else None
        )
        low = band[0] if band is not None else None
        got = realized.get(name, {}).get(metric) if stage == REALIZED else None
        guess = estimate(metric, scores[mask], probabilities[mask]) if probabilities is not None else None
        enough = n >= spec.min_labelled
        below = low is not None and got is not None and got < low
        guessed_below = low is not None and guess is not None and guess < low and enough
        slices.append(
            {
                "slice": name,
                "predictions": n_predictions,
                "labelled": n_labelled,
                "realized": got,
                "estimated": _round(guess),
                "band": band,
                "enough": enough,
                "below": below,
            }
        )
        if below and enough and not partial:
            alarms.append(f"realized {metric} {got:.3f} on {name} below its band {low:.3f} (n={n})")
        elif below and enough:
            warnings.append(
                f"realized {metric} {got:.3f} on {name} below its band {low:.3f} (n={n}), but the span's "
                "labels are partial: judged again when the rest lands"
            )
        elif below:
            warnings.append(
                f"realized {metric} {got:.3f} on {name} below its band, but n={n} < {spec.min_labelled}"
            )
        if guessed_below and stage == ESTIMATED:
            warnings.append(
                f"estimated {metric} {guess:.3f} on {name} below its band {low:.3f} "
                f"(n={n} predictions, CBPE): the labels will tell"
            )
        elif guessed_below and not below:
            warnings.append(f"estimated {metric} {guess:.3f} on {name} below its band {low:.3f} (CBPE)")
    overall = next((s for s in slices if s["slice"] == OVERALL), None)
    n_all = int(labelled_mask.sum()) if stage == REALIZED else len(rows)
    overall_band: Any = (
        overall["band"]
        if overall is not None
        else (
            reference.band(metric, OVERALL, n_all, quantile, spec.bootstrap) if reference and n_all else None
        )
    )
    estimated = estimate(metric, scores, probabilities) if probabilities is not None else None
    value = realized.get(OVERALL, {}).get(metric) if stage == REALIZED else None
    on_labelled = (
        estimate(metric, scores[labelled_mask], probabilities[labelled_mask])
        if probabilities is not None and labelled_mask.any()
        else None
    )
    score_jsd = js_divergence(scores, reference.scores) if reference is not None else None
    if score_jsd is not None and score_jsd > spec.max_score_jsd:
        warnings.append(
            f"prediction drift: scores vs the eval split JSD {score_jsd:.3f} > {spec.max_score_jsd}"
        )
    if reference is None:
        warnings.append("no reference for this version (evaluation split scores): no estimate, no band")
    return {
        "metric": metric,
        "realized": value,
        "estimated": _round(estimated),
        "estimated_labelled": _round(on_labelled),  # CBPE on the labelled rows only
        "estimation_error": None if on_labelled is None or value is None else round(on_labelled - value, 6),
        "band": overall_band,
        "quantile": quantile,
        "score_jsd": _round(score_jsd),
        "slices": slices,
        "alarms": alarms,
        "warnings": warnings,
    }
