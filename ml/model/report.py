"""The evaluation report in plain text, from an evaluation dir (no TensorFlow needed).

Candidate, benchmark and served model side by side, every slice with its size (or its "too
small" mark), the slice gaps, the robustness probe, the sensitivity summary, the calibration
table and the verdict with the check that decided. `scripts/demo_summary.py` prints it.
"""

from __future__ import annotations

import math
from pathlib import Path

from ml.atomic import read_json
from ml.table import render_table

SIDE_METRICS = ("auc", "binary_accuracy", "precision", "recall", "fall_out", "miss_rate", "calibration")
MODELS = (("candidate", "candidate"), ("benchmark", "benchmark"), ("served", "baseline"))


def _f(value) -> str:
    return "-" if not isinstance(value, int | float) or math.isnan(value) else f"{value:.4f}"


def _side_by_side(blessing: dict) -> str:
    side = blessing.get("side_by_side") or {}
    rows = [[m, *(_f(side.get(m, {}).get(k)) for k, _ in MODELS)] for m in SIDE_METRICS if m in side]
    return render_table(["metric", *(k for k, _ in MODELS)], rows)


def _slices(metrics: dict, sizes: dict, small: dict) -> str:
    rows = []
    for name, n in sizes.items():
        groups = metrics.get(name, {})
        if name in small:
            rows.append([name, n, small[name], "", "", ""])
            continue
        rows.append(
            [
                name,
                n,
                *(_f(groups.get(group, {}).get("auc")) for _, group in MODELS),
                _f(groups.get("diff", {}).get("auc")),
            ]
        )
    return render_table(["slice", "n", "auc", "benchmark", "served", "diff vs served"], rows)


def _gaps(gaps: list[dict]) -> str:
    rows = [
        [
            g["column"],
            {"fall_out": "FPR", "miss_rate": "FNR"}.get(g["metric"], g["metric"]),
            f"{g['best']} {_f(g['best_value'])}",
            f"{g['worst']} {_f(g['worst_value'])}",
            _f(g["gap"]),
            _f(g["max_gap"]),
            "ok" if g["within"] else "OVER",
        ]
        for g in gaps
    ]
    return render_table(["column", "rate", "best slice", "worst slice", "gap", "max", ""], rows)


def _calibration(tables: dict) -> str:
    models = [(label, tables[key]) for label, key in MODELS if key in tables]
    if not models:
        return "(no calibration plot)"
    buckets = sorted({(b["lower"], b["upper"]) for _, rows in models for b in rows})
    by = {label: {(b["lower"], b["upper"]): b for b in rows} for label, rows in models}
    head = ["bucket"] + [f"{label} {what}" for label, _ in models for what in ("n", "pred", "obs")]
    rows = []
    for bucket in buckets:
        row = [f"[{bucket[0]:.1f}, {bucket[1]:.1f})"]
        for label, _ in models:
            b = by[label].get(bucket)
            row += [b["examples"], _f(b["mean_prediction"]), _f(b["observed_rate"])] if b else ["", "", ""]
        rows.append(row)
    return render_table(head, rows)


def _sensitivity(sens: dict, top: int = 5) -> str:
    curves, lines = sens.get("candidate", {}), []
    for name in sens.get("most_sensitive", [])[:top]:
        curve, values = curves[name]["mean_prediction"], curves[name]["values"]
        over = f"{len(values)} values" if isinstance(values[0], str) else f"{values[0]}..{values[-1]}"
        lines.append(f"  {name}: mean prediction {_f(min(curve))}..{_f(max(curve))} over {over}")
    if "served" in sens:
        changed = ", ".join(
            f"{c['feature']} (max diff {_f(c['max_abs_diff'])} at {c['at']})" for c in sens["sharp_changes"]
        )
        lines.append(
            f"  changed sharply vs served: {changed or 'none'} (threshold {sens['sharp_change_threshold']})"
        )
    return "\n".join(lines)


def evaluation_report(evaluation_dir: Path) -> str:
    evaluation_dir = Path(evaluation_dir)
    blessing = read_json(evaluation_dir / "blessing.json")
    analysis_file = evaluation_dir / "analysis.json"
    if not analysis_file.is_file():  # an evaluation from before ml.model.gate
        return f"blessed: {blessing.get('blessed')}"
    analysis = read_json(analysis_file)
    metrics = read_json(evaluation_dir / "metrics.json")
    probe = analysis["robustness"]
    verdict = "BLESSED" if blessing["blessed"] else f"NOT blessed, decided by {blessing['decided_by']}"
    parts = [
        "candidate vs benchmark (logistic regression) vs served model, overall:",
        _side_by_side(blessing),
        f"\nslices (min size {analysis['min_slice_size']}; smaller ones never decide):",
        _slices(metrics, analysis["slice_sizes"], analysis["too_small"]),
        "\nslice gaps (best vs worst slice with enough examples):",
        _gaps(analysis["gaps"]),
        f"\nrobustness probe: {probe['inputs']} inputs ({probe['edge_cases']} edge cases, "
        f"{probe['random_inputs']} random) -> "
        + ("all finite, in [0, 1]" if probe["passed"] else f"{len(probe['failures'])} FAILED"),
        f"\nsensitivity (partial dependence on {analysis['sensitivity']['examples']} eval examples), "
        "most sensitive first:",
        _sensitivity(analysis["sensitivity"]),
        "\ncalibration (overall; pred = mean prediction, obs = observed delay rate):",
        _calibration(analysis["calibration"]),
        f"\nverdict: {verdict}: {blessing.get('reason')}",
    ]
    parts += [f"warning: {w}" for w in blessing.get("warnings") or []]
    return "\n".join(parts)
