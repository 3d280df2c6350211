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
            rows = []
            for b in buckets:
                n = b.num_weighted_examples.value
                if n <= 0:
                    continue
                rows.append(
                    {
                        "lower": round(max(b.lower_threshold_inclusive, 0.0), 4),
                        "upper": round(min(b.upper_threshold_exclusive, 1.0), 4),
                        "examples": int(round(n)),
                        "mean_prediction": round(b.total_weighted_refined_prediction.value / n, 4),
                        "observed_rate": round(b.total_weighted_label.value / n, 4),
                    }
                )
            tables[kv.key.model_name or "candidate"] = rows
    return tables
