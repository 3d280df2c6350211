"""The calibration table (predicted vs observed rate by bucket) from TFMA's CalibrationPlot.

`evaluate` asks TFMA for `CalibrationPlot` with `CALIBRATION_BUCKETS` equal-width buckets over
[0, 1]; this reads the plots TFMA wrote (`tfma.load_plots`) for the overall slice of each model.
"""

from __future__ import annotations

from pathlib import Path

CALIBRATION_BUCKETS = 10


def calibration_tables(tfma_dir: Path, slice_of: str = "Overall") -> dict[str, list[dict]]:
    """`{model: [{lower, upper, examples, mean_prediction, observed_rate}]}` (empty buckets out)."""
    import tensorflow_model_analysis as tfma

    from ml.model.slices import slice_name

    tables: dict[str, list[dict]] = {}
    for plots in tfma.load_plots(str(tfma_dir)):
        if slice_name(plots.slice_key) != slice_of:
            continue
        for kv in plots.plot_keys_and_values:
            buckets = kv.value.calibration_histogram_buckets.buckets
            if not buckets:
                continue
            sums: dict[tuple[float, float], list[float]] = {}
            for b in buckets:  # TFMA's under/overflow buckets (< 0, >= 1) join the end buckets
                n = b.num_weighted_examples.value
                if n <= 0:
                    continue
                lower = min(max(b.lower_threshold_inclusive, 0.0), 1.0 - 1.0 / CALIBRATION_BUCKETS)
                key = (round(lower, 4), round(min(lower + 1.0 / CALIBRATION_BUCKETS, 1.0), 4))
                acc = sums.setdefault(key, [0.0, 0.0, 0.0])
                acc[0] += n
                acc[1] += b.total_weighted_refined_prediction.value
                acc[2] += b.total_weighted_label.value
            rows = [
                {
                    "lower": lower,
                    "upper": upper,
                    "examples": int(round(n)),
                    "mean_prediction": round(pred / n, 4),
                    "observed_rate": round(label / n, 4),
                }
                for (lower, upper), (n, pred, label) in sorted(sums.items())
            ]
            tables[kv.key.model_name or "candidate"] = rows
    return tables
