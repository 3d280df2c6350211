"""The evaluation report in plain text, from an evaluation dir (no TensorFlow needed).

Candidate, benchmark and served model side by side, every slice with its size (or its "too
small" mark), the slice gaps, the robustness probe, the sensitivity summary, the calibration
table and the verdict with the check that decided. `scripts/demo_summary.py` prints it.
"""

from __future__ import annotations

import math
from pathlib import Path

from ml.atomic import read_json
from ml.model.blessing import Blessing
from ml.model.layout import EvaluationLayout
from ml.table import render_table

SIDE_METRICS = ("auc", "binary_accuracy", "precision", "recall", "fall_out", "miss_rate", "calibration")
MODELS = (("candidate", "candidate"), ("benchmark", "benchmark"), ("served", "baseline"))


def _f(value) -> str:
    return "-" if not isinstance(value, int | float) or math.isnan(value) else f"{value:.4f}"


Table = tuple[list[str], list[list]]  # header, rows (cells as text or numbers)


def _side_by_side(blessing: Blessing) -> Table:
    side = blessing.side_by_side
    rows = [[m, *(_f(side.get(m, {}).get(k)) for k, _ in MODELS)] for m in SIDE_METRICS if m in side]
    return ["metric", *(k for k, _ in MODELS)], rows


def _slices(metrics: dict, sizes: dict, small: dict) -> Table:
    rows: list[list] = []
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
    return ["slice", "n", "auc", "benchmark", "served", "diff vs served"], rows


def _gaps(gaps: list[dict]) -> Table:
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
    return ["column", "rate", "best slice", "worst slice", "gap", "max", ""], rows


def _calibration(tables: dict) -> Table | None:
    models = [(label, tables[key]) for label, key in MODELS if key in tables]
    if not models:
        return None
    buckets = sorted({(b["lower"], b["upper"]) for _, rows in models for b in rows})
    by = {label: {(b["lower"], b["upper"]): b for b in rows} for label, rows in models}
    head = ["bucket"] + [f"{label} {what}" for label, _ in models for what in ("n", "pred", "obs")]
    rows = []
    for bucket in buckets:
        row: list = [f"[{bucket[0]:.1f}, {bucket[1]:.1f})"]
        for label, _ in models:
            b = by[label].get(bucket)
            row += [b["examples"], _f(b["mean_prediction"]), _f(b["observed_rate"])] if b else ["", "", ""]
        rows.append(row)
    return head, rows


def _sensitivity(sens: dict, top: int = 5) -> list[str]:
    curves, lines = sens.get("candidate", {}), []
    for name in sens.get("most_sensitive", [])[:top]:
        curve, values = curves[name]["mean_prediction"], curves[name]["values"]
        over = f"{len(values)} values" if isinstance(values[0], str) else f"{values[0]}..{values[-1]}"
        lines.append(f"{name}: mean prediction {_f(min(curve))}..{_f(max(curve))} over {over}")
    if "served" in sens:
        changed = ", ".join(
            f"{c['feature']} (max diff {_f(c['max_abs_diff'])} at {c['at']})" for c in sens["sharp_changes"]
        )
        lines.append(
            f"changed sharply vs served: {changed or 'none'} (threshold {sens['sharp_change_threshold']})"
        )
    return lines


def _checks(blessing: Blessing) -> Table:
    rows = [
        [c.check, "passed" if c.passed else "FAILED", "blocks" if c.blocking else "warns", c.message]
        for c in blessing.checks
    ]
    return ["check", "result", "severity", "why"], rows


def evaluation_sections(evaluation_dir: Path) -> dict | None:
    """The report's parts as data (verdict first, then tables), for the CLI's text and the ML
    view's HTML tables; None for an evaluation from before ml.model.gate (no analysis.json)."""
    evaluation = EvaluationLayout(Path(evaluation_dir))
    if not evaluation.analysis.is_file():
        return None
    blessing = Blessing.read(evaluation.blessing)
    analysis = read_json(evaluation.analysis)
    metrics = read_json(evaluation.metrics)
    probe = analysis["robustness"]
    verdict = "BLESSED" if blessing.blessed else f"NOT blessed, decided by {blessing.decided_by}"
    return {
        "blessed": blessing.blessed,
        "verdict": f"{verdict}: {blessing.reason}",
        "warnings": list(blessing.warnings),
        "checks": _checks(blessing),
        "side_by_side": _side_by_side(blessing),
        "min_slice_size": analysis["min_slice_size"],
        "slices": _slices(metrics, analysis["slice_sizes"], analysis["too_small"]),
        "gaps": _gaps(analysis["gaps"]),
        "probe": f"{probe['inputs']} inputs ({probe['edge_cases']} edge cases, "
        f"{probe['random_inputs']} random) -> "
        + ("all finite, in [0, 1]" if probe["passed"] else f"{len(probe['failures'])} FAILED"),
        "sensitivity_examples": analysis["sensitivity"]["examples"],
        "sensitivity": _sensitivity(analysis["sensitivity"]),
        "calibration": _calibration(analysis["calibration"]),
    }


def evaluation_report(evaluation_dir: Path) -> str:
    """The evaluation report as plain text (the CLI, `scripts/demo_summary.py`)."""
    sections = evaluation_sections(evaluation_dir)
    if sections is None:  # an evaluation from before ml.model.gate
        return f"blessed: {Blessing.read(EvaluationLayout(Path(evaluation_dir)).blessing).blessed}"
    calibration = sections["calibration"]
    parts = [
        "candidate vs benchmark (logistic regression) vs served model, overall:",
        render_table(*sections["side_by_side"]),
        f"\nslices (min size {sections['min_slice_size']}; smaller ones never decide):",
        render_table(*sections["slices"]),
        "\nslice gaps (best vs worst slice with enough examples):",
        render_table(*sections["gaps"]),
        f"\nrobustness probe: {sections['probe']}",
        f"\nsensitivity (partial dependence on {sections['sensitivity_examples']} eval examples), "
        "most sensitive first:",
        "\n".join(f"  {line}" for line in sections["sensitivity"]),
        "\ncalibration (overall; pred = mean prediction, obs = observed delay rate):",
        render_table(*calibration) if calibration else "(no calibration plot)",
        f"\nverdict: {sections['verdict']}",
    ]
    parts += [f"warning: {w}" for w in sections["warnings"]]
    return "\n".join(parts)
