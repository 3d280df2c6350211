"""The blessing gate: one function over every check of an evaluation, saying which one decided.

Checks, in the order they decide: the robustness probe (can the model answer every valid and
edge-case input), the overall thresholds (TFMA: AUC lower bound, change vs the served model),
the benchmark (the candidate must beat it by the configured margin), the per-slice change
thresholds (TFMA, slices of the configured columns) and the slice gaps (when their severity is
`block`). A slice smaller than `evaluation.min_slice_size` never decides: a TFMA failure on it
is listed under `ignored` with its size.
"""

from __future__ import annotations

from typing import Any

from ml.config import PipelineConfig
from ml.model.slices import OVERALL

CANDIDATE, BASELINE, BENCHMARK = "candidate", "baseline", "benchmark"
GATE_METRIC_CLASS = "AUC"  # the TFMA metric class the gate's thresholds are on
GATE_METRIC = GATE_METRIC_CLASS.lower()  # its key in TFMA's results


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def failure_message(failure: dict, metrics: dict) -> str:
    """`carrier=UA: auc 0.7120 vs served 0.7510 (change -0.0390, allowed drop 0.0200)`."""
    groups = metrics.get(failure["slice"], {})
    metric = failure["metric"]
    value = groups.get(CANDIDATE, {}).get(metric)
    if failure.get("is_diff"):
        served = groups.get(BASELINE, {}).get(metric)
        allowed = -float(failure.get("bound") or 0.0)
        return (
            f"{failure['slice']}: {metric} {_f(value)} vs served {_f(served)} "
            f"(change {_f(failure.get('value'))}, allowed drop {_f(allowed)})"
        )
    if failure.get("value") is None:
        return f"{failure['slice']}: {metric} {failure.get('message') or 'not computed'}"
    return f"{failure['slice']}: {metric} {_f(value)} is below the lower bound {_f(failure.get('bound'))}"


def _check(name: str, passed: bool, message: str, blocking: bool = True, **extra: Any) -> dict:
    return {"check": name, "passed": passed, "blocking": blocking, "message": message, **extra}


def judge(
    cfg: PipelineConfig,
    metrics: dict[str, dict[str, dict[str, float]]],
    failures: list[dict],
    sizes: dict[str, int],
    *,
    robustness: dict | None,
    gaps: list[dict],
    classes: tuple[int, int] | None = None,
) -> dict:
    """`{blessed, decided_by, reason, checks, failures, ignored, undefined}` of one evaluation.
    `classes`: (eval examples, positives); one class makes AUC undefined: the gate cannot judge."""
    options = cfg.eval_options
    small = {s for s, n in sizes.items() if s != OVERALL and n < options.min_slice_size}
    mine = [f for f in failures if f.get("model") in (None, CANDIDATE)]
    ignored = [
        {"slice": f["slice"], "metric": f["metric"], "why": f"too small (n={sizes.get(f['slice'])})"}
        for f in mine
        if f["slice"] in small
    ]
    ignored = [dict(t) for t in dict.fromkeys(tuple(i.items()) for i in ignored)]  # one per slice+metric
    counted = sorted((f for f in mine if f["slice"] not in small), key=lambda f: f["slice"] != OVERALL)
    checks = []
    rows, positives = classes if classes is not None else (None, None)
    undefined = rows is not None and (rows == 0 or positives in (0, rows))
    if undefined:
        checks.append(
            _check(
                "evaluation data",
                False,
                f"cannot judge: the eval split holds one class ({rows} examples, {positives} positive), "
                f"so {GATE_METRIC} is undefined (not 0); widen training.window_spans or wait for spans "
                "with both classes",
            )
        )
    if robustness is not None:
        from ml.model.robustness import failure_message as probe_message

        ok = robustness["passed"]
        checks.append(
            _check(
                "robustness probe",
                ok,
                probe_message(robustness) if not ok else f"{robustness['inputs']} inputs answered in [0, 1]",
            )
        )
    overall = [f for f in counted if f["slice"] == OVERALL]
    checks.append(
        _check(
            f"{overall[0]['metric']} on {OVERALL}" if overall else f"{GATE_METRIC} on {OVERALL}",
            not overall,
            "; ".join(failure_message(f, metrics) for f in overall) or "overall thresholds passed",
            tfma=True,  # a threshold TFMA evaluates: its validation result records it too
        )
    )
    row = metrics.get(OVERALL, {})
    if options.benchmark is not None and BENCHMARK in row:
        cand, bench = row.get(CANDIDATE, {}).get(GATE_METRIC), row[BENCHMARK].get(GATE_METRIC)
        margin = options.benchmark.margin
        ok = cand is not None and bench is not None and cand - bench > margin
        verb = "beats" if ok else "does not beat"
        checks.append(
            _check(
                f"{GATE_METRIC} vs benchmark",
                ok,
                f"candidate {GATE_METRIC} {_f(cand)} {verb} the benchmark (logistic regression) "
                f"{GATE_METRIC} {_f(bench)} by more than the margin {margin:g}",
                benchmark=bench,
                margin=margin,
            )
        )
    per_slice = [f for f in counted if f["slice"] != OVERALL]
    served = any(BASELINE in groups for groups in metrics.values())
    judged = f"every slice with >= {options.min_slice_size} examples passed"
    if not served and options.slice_thresholds.columns:
        judged = (
            "no served model to compare slices with: the per-slice change thresholds were skipped "
            "(the overall value thresholds applied)"
        )
    if small:
        judged += f"; {len(small)} slice(s) under {options.min_slice_size} examples: too small, not judged"
    checks.append(
        _check(
            f"{per_slice[0]['metric']} on {per_slice[0]['slice']}" if per_slice else "slice thresholds",
            not per_slice,
            "; ".join(failure_message(f, metrics) for f in per_slice) or judged,
            tfma=True,
        )
    )
    for gap in gaps:
        if not gap["within"]:
            checks.append(
                _check(
                    f"{gap['metric']} gap on {gap['column']}",
                    False,
                    f"{gap['column']}: {gap['metric']} gap {_f(gap['gap'])} between {gap['best']} "
                    f"({_f(gap['best_value'])}) and {gap['worst']} ({_f(gap['worst_value'])}) "
                    f"exceeds {_f(gap['max_gap'])}",
                    blocking=options.gaps.severity == "block",
                )
            )
    deciding = next((c for c in checks if c["blocking"] and not c["passed"]), None)
    return {
        "blessed": deciding is None,
        "decided_by": deciding["check"] if deciding else None,
        "reason": deciding["message"] if deciding else "every check passed",
        "warnings": [c["message"] for c in checks if not c["blocking"] and not c["passed"]],
        "checks": checks,
        "failures": counted,
        "ignored": ignored,
        "undefined": [GATE_METRIC] if undefined else [],
    }
