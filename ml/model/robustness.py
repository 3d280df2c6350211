"""The robustness probe: random valid inputs and edge cases from the schema's domains.

Every input goes through `serving_default` (ml.model.predict); each prediction must be finite
and in [0, 1], with no serving error. Domains: the curated schema's string domains for
categorical features, `pipeline.yaml`'s min/max for numeric ones (the observed eval range
where the config gives none). Edge cases start from one real eval example and change one
feature: its minimum, its maximum, missing (features with a default: optional), and an
unseen category. A failure names the input, e.g. `dep_delay=2000.0 (max)`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ml.config import PipelineConfig
from ml.model.predict import ServingModel

UNSEEN = "__unseen__"


def string_domains(schema_path: Path) -> dict[str, list[str]]:
    """`{feature: [values]}` of the schema's string domains (global or inline)."""
    from ml.data.schema import load_schema

    schema = load_schema(schema_path)
    named = {d.name: list(d.value) for d in schema.string_domain}
    out = {}
    for feature in schema.feature:
        if feature.HasField("string_domain"):
            out[feature.name] = list(feature.string_domain.value)
        elif feature.domain in named:
            out[feature.name] = named[feature.domain]
    return out


def numeric_ranges(cfg: PipelineConfig, rows: list[dict]) -> dict[str, tuple[float, float]]:
    """`{feature: (min, max)}`: the config's bounds, else the observed range in `rows`."""
    out = {}
    for f in cfg.features:
        if f.type == "string":
            continue
        seen = [r[f.name] for r in rows if r.get(f.name) is not None]
        low = f.min if f.min is not None else min(seen)
        high = f.max if f.max is not None else max(seen)
        out[f.name] = (float(low), float(high))
    return out


def _value(kind: str, x: float):
    return int(round(x)) if kind == "int" else float(x)


def probe_inputs(
    cfg: PipelineConfig, rows: list[dict], domains: dict[str, list[str]], count: int, seed: int
) -> list[tuple[str, dict]]:
    """`[(name, row)]`: the edge cases, then `count` random valid inputs."""
    base, ranges = rows[0], numeric_ranges(cfg, rows)
    inputs: list[tuple[str, dict]] = []
    for f in cfg.features:
        if f.name in ranges:
            low, high = ranges[f.name]
            inputs.append((f"{f.name}={_value(f.type, low)} (min)", {**base, f.name: _value(f.type, low)}))
            inputs.append((f"{f.name}={_value(f.type, high)} (max)", {**base, f.name: _value(f.type, high)}))
        else:
            inputs.append((f"{f.name}={UNSEEN!r} (unseen category)", {**base, f.name: UNSEEN}))
        if f.default is not None:
            inputs.append((f"{f.name} missing (optional)", {**base, f.name: None}))
    rng = np.random.default_rng(seed)
    for i in range(count):
        row = {}
        for f in cfg.features:
            if f.name in ranges:
                row[f.name] = _value(f.type, rng.uniform(*ranges[f.name]))
            else:
                values = domains.get(f.name) or sorted({str(r[f.name]) for r in rows})
                row[f.name] = str(rng.choice(values))
        inputs.append((f"random input #{i}: {row}", row))
    return inputs


def _bad(p: float) -> bool:
    return not math.isfinite(p) or p < 0 or p > 1


def robustness_probe(cfg: PipelineConfig, model: ServingModel, rows: list[dict]) -> dict:
    """Run every probe input through `serving_default`; `passed` only when all answered well."""
    options = cfg.eval_options.probe
    inputs = probe_inputs(cfg, rows, string_domains(cfg.schema_path), options.random_inputs, options.seed)
    failures = []
    try:
        predictions = model.predict([row for _, row in inputs]).tolist()
    except Exception:  # noqa: BLE001 -- find the input that breaks serving, one at a time
        predictions = []
        for name, row in inputs:
            try:
                predictions.append(float(model.predict([row])[0]))
            except Exception as exc:  # noqa: BLE001 -- a serving error is the probe's verdict
                predictions.append(float("nan"))
                failures.append({"input": name, "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
    errored = {f["input"] for f in failures}
    for (name, _), p in zip(inputs, predictions, strict=True):
        if name not in errored and _bad(p):
            failures.append({"input": name, "prediction": p if math.isfinite(p) else str(p)})
    finite = [p for p in predictions if math.isfinite(p)]
    return {
        "passed": not failures,
        "inputs": len(inputs),
        "edge_cases": len(inputs) - options.random_inputs,
        "random_inputs": options.random_inputs,
        "min_prediction": round(min(finite), 6) if finite else None,
        "max_prediction": round(max(finite), 6) if finite else None,
        "failures": failures,
    }


def failure_message(result: dict) -> str:
    first = result["failures"][0]
    what = first.get("error") or f"prediction {first.get('prediction', 'nan')} (must be finite, in [0, 1])"
    more = len(result["failures"]) - 1
    return f"robustness probe failed for input {first['input']}: {what}" + (
        f" (and {more} more input(s))" if more else ""
    )
