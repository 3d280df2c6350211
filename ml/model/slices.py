"""Slice sizes, the "too small" marks and the best-vs-worst slice gaps (no TensorFlow needed).

TFMA's `Options.min_slice_size` drops the metrics of a smaller slice (it writes an error in
their place), so the example count of every slice is counted from the same raw eval rows
(ml.model.tfma_inputs.EvalRows.sizes): a slice below the minimum is reported as
`too small (n=4)` and never decides.
"""

from __future__ import annotations

OVERALL = "Overall"
# TFMA 0.47.1 names: FallOut = false positive rate, MissRate = false negative rate
GAP_METRICS = {"fall_out": "max_fpr_gap", "miss_rate": "max_fnr_gap"}


def slice_name(slice_key) -> str:
    parts = []
    for key in slice_key.single_slice_keys:
        value = getattr(key, key.WhichOneof("kind"))
        parts.append(f"{key.column}={value.decode() if isinstance(value, bytes) else value}")
    return ",".join(parts) or OVERALL


def too_small(sizes: dict[str, int], min_size: int) -> dict[str, str]:
    """`{slice: "too small (n=4)"}` for every slice (never Overall) below `min_size`."""
    return {s: f"too small (n={n})" for s, n in sizes.items() if s != OVERALL and n < min_size}


def column_of(slice_name: str) -> str | None:
    """`carrier` of `carrier=UA`; None for Overall and for crossed slices."""
    if slice_name == OVERALL or "," in slice_name:
        return None
    return slice_name.split("=", 1)[0]


def slice_gaps(
    metrics: dict[str, dict[str, dict[str, float]]],
    sizes: dict[str, int],
    columns: list[str],
    min_size: int,
    limits: dict[str, float | None],
    model: str = "candidate",
) -> list[dict]:
    """Per column and metric (FPR, FNR): the best and the worst slice with enough examples,
    their gap and whether it is within the configured maximum (`limits`: max_fpr_gap, ...)."""
    rows = []
    for column in columns:
        for metric, limit_key in GAP_METRICS.items():
            values = {
                name: groups[model][metric]
                for name, groups in metrics.items()
                if column_of(name) == column
                and sizes.get(name, 0) >= min_size
                and metric in groups.get(model, {})
            }
            if len(values) < 2:
                continue
            best, worst = min(values, key=values.__getitem__), max(values, key=values.__getitem__)
            gap = round(values[worst] - values[best], 6)
            limit = limits.get(limit_key)
            rows.append(
                {
                    "column": column,
                    "metric": metric,
                    "best": best,
                    "best_value": values[best],
                    "worst": worst,
                    "worst_value": values[worst],
                    "gap": gap,
                    "max_gap": limit,
                    "within": limit is None or gap <= limit,
                    "slices": len(values),
                }
            )
    return rows
