"""Sensitivity: partial dependence of the prediction on each feature, via `serving_default`.

On a sample of eval examples, one feature at a time is set to each value of a grid (numeric:
evenly spaced over its observed range in the sample; categorical: its most frequent values)
while every other feature keeps its value; the curve is the mean prediction per grid value.
Comparing the candidate's curves with the served model's lists the features whose effect
changed sharply (largest absolute difference above `evaluation.sensitivity.sharp_change`).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ml.config import PipelineConfig
from ml.model.predict import ServingModel


def feature_grid(cfg: PipelineConfig, rows: list[dict], size: int) -> dict[str, list]:
    grid: dict[str, list] = {}
    for f in cfg.features:
        seen = [r[f.name] for r in rows if r.get(f.name) is not None]
        if not seen:
            continue
        if f.type == "string":
            grid[f.name] = [v for v, _ in Counter(seen).most_common(size)]
        else:
            points = np.linspace(min(seen), max(seen), size)
            values = [int(round(x)) if f.type == "int" else round(float(x), 4) for x in points]
            grid[f.name] = list(dict.fromkeys(values))
    return grid


def partial_dependence(model: ServingModel, rows: list[dict], grid: dict[str, list]) -> dict:
    """`{feature: {"values": grid, "mean_prediction": [...], "range": max - min}}`."""
    out = {}
    for name, values in grid.items():
        batch = [{**row, name: value} for value in values for row in rows]
        means = model.predict(batch).reshape(len(values), len(rows)).mean(axis=1)
        curve = [round(float(m), 6) for m in means]
        out[name] = {"values": values, "mean_prediction": curve, "range": round(max(curve) - min(curve), 6)}
    return out


def sharp_changes(candidate: dict, served: dict, threshold: float) -> list[dict]:
    """Features whose partial-dependence curves differ by more than `threshold` somewhere on
    the grid, largest difference first."""
    changed = []
    for name, curve in candidate.items():
        if name not in served:
            continue
        other = served[name]["mean_prediction"]
        diff = np.abs(np.array(curve["mean_prediction"]) - np.array(other))
        worst = int(diff.argmax())
        if diff[worst] > threshold:
            changed.append(
                {
                    "feature": name,
                    "at": curve["values"][worst],
                    "candidate": curve["mean_prediction"][worst],
                    "served": other[worst],
                    "max_abs_diff": round(float(diff[worst]), 6),
                }
            )
    return sorted(changed, key=lambda c: -c["max_abs_diff"])


def sensitivity(
    cfg: PipelineConfig, rows: list[dict], candidate: ServingModel, served: ServingModel | None
) -> dict:
    """Partial dependence of the candidate (and of the served model), and the sharp changes."""
    options = cfg.eval_options.sensitivity
    sample = rows[: options.examples]
    grid = feature_grid(cfg, sample, options.grid)
    result: dict = {"examples": len(sample), "candidate": partial_dependence(candidate, sample, grid)}
    if served is not None:
        try:
            result["served"] = partial_dependence(served, sample, grid)
        except Exception as exc:  # noqa: BLE001 -- e.g. a served model from before a feature change
            result["served_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    served_curves = result.get("served", {})
    result["sharp_changes"] = sharp_changes(result["candidate"], served_curves, options.sharp_change)
    result["sharp_change_threshold"] = options.sharp_change
    result["most_sensitive"] = sorted(result["candidate"], key=lambda n: -result["candidate"][n]["range"])
    return result
