"""`monitor --span D`: the live model on one span: join, realized, estimated, bands, one verdict.

Per version label that served the span (stable, canary, or `v<N>` for a pinned version), and
over all of them (`all`):
- counts: predictions, labelled, coverage, and what could not be joined and why;
- realized metrics (TFMA over the labelled rows, ml.monitoring.realized) on every slice;
- the CBPE estimate of `monitoring.metric` over every prediction, labelled or not, calibrated on
  the served version's evaluation split, and its error once the realized value exists;
- the alarm band of the metric at the span's labelled count, per alarm slice (bootstrap of the
  version's reference, ml.monitoring.reference).
A realized value below its band on an alarm slice with at least `min_labelled` labelled
predictions is an alarm (it retrains); an estimate below the band, prediction drift (scores vs
the eval split, Jensen-Shannon), low label coverage and partial labels only warn.

Written to `<artifact_root>/<pipeline>/monitoring/<span>/<label cutoff>/` (monitor.json, tfma/,
joined.tfrecord.gz): a re-run when more labels have arrived restates the span in a new folder,
the earlier one stays.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd

from ml.atomic import atomic_dir, atomic_write_json, read_json
from ml.config import PipelineConfig
from ml.model.slices import OVERALL
from ml.monitoring.estimate import estimate, js_divergence
from ml.monitoring.ground_truth import join, predictions_frame, read_ground_truth
from ml.monitoring.prediction_log import is_complete, read_span
from ml.monitoring.realized import ALL_LABELS, realized_metrics
from ml.monitoring.reference import REFERENCE_FILE, Reference, build_reference
from ml.roots import Roots
from ml.serving.labels import STABLE
from ml.serving.layout import ServingLayout
from ml.spans import SpanPaths, parse_span

MONITOR_FILE = "monitor.json"


def cutoff_slug(cutoff: str) -> str:
    """A folder name for a label cutoff: `2013-01-16T06:00:00+00:00` -> `2013-01-16T06-00-00Z`."""
    return dt.datetime.fromisoformat(cutoff).astimezone(dt.UTC).strftime("%Y-%m-%dT%H-%M-%SZ")


def version_folder(serving: ServingLayout, version: int) -> Path:
    live = serving.version_dir(version)
    return live if live.is_dir() else serving.retired / str(version)


def served_reference(cfg: PipelineConfig, roots: Roots, version: int) -> Reference | None:
    """The served version's reference: beside its blessing (written by evaluate), else computed
    once from its SavedModel over the blessing's eval files and kept under monitoring/references/."""
    serving = ServingLayout.of(cfg, roots)
    folder = version_folder(serving, version)
    blessing_file = serving.metadata(folder).get("blessing_file")
    if blessing_file and (beside := Path(blessing_file).parent / REFERENCE_FILE).is_file():
        return Reference.of(read_json(beside))
    cached = SpanPaths(cfg, roots).pipeline_root / "monitoring" / "references" / f"v{version}.json"
    if not cached.is_file():
        if not (blessing_file and Path(blessing_file).is_file() and (folder / "saved_model.pb").is_file()):
            return None
        from ml.model.predict import ServingModel

        files = [Path(f) for f in read_json(Path(blessing_file)).get("eval_files", []) if Path(f).is_file()]
        atomic_write_json(cached, build_reference(cfg, ServingModel(folder, cfg), files))
    return Reference.of(read_json(cached))


def _rows_of_slice(rows: pd.DataFrame, slice_name: str) -> pd.DataFrame:
    if slice_name == OVERALL:
        return rows
    column, value = slice_name.split("=", 1)
    return rows[rows[column].astype(str) == value] if column in rows else rows.iloc[0:0]


def judge_label(
    cfg: PipelineConfig,
    rows: pd.DataFrame,
    realized: dict[str, dict],
    reference: Reference | None,
) -> dict[str, Any]:
    """One version label's verdict on the span: estimate, bands per alarm slice, alarm, warnings."""
    spec = cfg.monitoring
    metric = spec.metric
    labelled = rows[rows["y"].notna()]
    scores = rows["score"].to_numpy(dtype=float)
    estimated = estimate(metric, scores, reference.calibrator) if reference is not None else None
    value = realized.get(OVERALL, {}).get(metric)
    slices, alarms, warnings = [], [], []
    for name in spec.alarm_slices:
        n = int(len(_rows_of_slice(labelled, name)))
        got = realized.get(name, {}).get(metric)
        band = (
            reference.band(metric, name, n, spec.band_quantile, spec.bootstrap) if reference and n else None
        )
        enough = n >= spec.min_labelled
        low = band[0] if band is not None else None
        below = low is not None and got is not None and got < low
        slices.append(
            {"slice": name, "labelled": n, "realized": got, "band": band, "enough": enough, "below": below}
        )
        if below and enough:
            alarms.append(f"realized {metric} {got:.3f} on {name} below its band {low:.3f} (n={n})")
        elif below:
            warnings.append(
                f"realized {metric} {got:.3f} on {name} below its band, but n={n} < {spec.min_labelled}"
            )
    overall_band = next((s["band"] for s in slices if s["slice"] == OVERALL), None)
    if overall_band is None and reference is not None and len(rows):
        overall_band = reference.band(
            metric, OVERALL, max(len(labelled), 1), spec.band_quantile, spec.bootstrap
        )
    if estimated is not None and overall_band is not None and estimated < overall_band[0]:
        warnings.append(f"estimated {metric} {estimated:.3f} below the band {overall_band[0]:.3f} (CBPE)")
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
        "estimated": None if estimated is None else round(estimated, 6),
        "estimation_error": None if estimated is None or value is None else round(estimated - value, 6),
        "band": overall_band,
        "score_jsd": None if score_jsd is None else round(score_jsd, 6),
        "slices": slices,
        "alarms": alarms,
        "warnings": warnings,
    }


def monitor_span(cfg: PipelineConfig, roots: Roots, span: str, cutoff: str | None = None) -> dict[str, Any]:
    """Monitor one span with the labels there now; returns (and writes) its monitor.json."""
    span = parse_span(cfg, span)
    paths = SpanPaths(cfg, roots)
    cutoff = cutoff or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    folder = paths.predictions_dir(span)
    predictions = read_span(folder)
    truth = read_ground_truth(cfg, paths, span)
    features = [f.name for f in cfg.landed_features]
    joined = join(predictions_frame(predictions, features), truth)
    rows = joined.rows
    out = paths.monitor_dir(span) / cutoff_slug(cutoff)
    partial_why = [
        why
        for why, missing in (
            ("predictions incomplete (no _SUCCESS)", not is_complete(folder)),
            ("labels incomplete (no done marker)", not truth.complete),
        )
        if missing
    ]
    spec = cfg.monitoring
    span_warnings = []
    if not predictions:
        span_warnings.append(f"no predictions logged for span {span} ({folder})")
    if predictions and joined.counts["coverage"] < spec.min_coverage:
        span_warnings.append(f"label coverage {joined.counts['coverage']:.0%} < {spec.min_coverage:.0%}")
    span_warnings += [f"partial: {why}" for why in partial_why]
    by_label: dict[str, dict[str, Any]] = {}
    with atomic_dir(out) as tmp:
        realized = realized_metrics(cfg, rows, tmp) if len(rows) else {}
        labels = sorted(rows["version_label"].unique()) if len(rows) else []
        versions = {lab: int(rows.loc[rows["version_label"] == lab, "version"].iloc[0]) for lab in labels}
        stable_version = versions.get(STABLE) or (max(versions.values()) if versions else None)
        references = {v: served_reference(cfg, roots, v) for v in set(versions.values())}
        for label in [*labels, ALL_LABELS] if labels else []:
            part = rows if label == ALL_LABELS else rows[rows["version_label"] == label]
            version = stable_version if label == ALL_LABELS else versions[label]
            ref = references.get(version) if version is not None else None
            verdict = judge_label(cfg, part, realized.get(label, {}), ref)
            if label == ALL_LABELS and len(labels) == 1:
                verdict["alarms"] = []  # the same rows as the one label: alarmed there
            by_label[label] = {
                "version": version if label != ALL_LABELS else None,
                "predictions": int(len(part)),
                "labelled": int(part["y"].notna().sum()),
                "coverage": round(float(part["y"].notna().mean()), 6) if len(part) else 0.0,
                **verdict,
                "metrics": realized.get(label, {}),
            }
        alarms = [f"{label}: {a}" for label, v in by_label.items() for a in v["alarms"]]
        result = {
            "pipeline": cfg.name,
            "span": span,
            "cutoff": cutoff,
            "partial": bool(partial_why),
            "counts": joined.counts,
            "unjoined_examples": joined.examples,
            "labels_files": [str(f) for f in truth.files],
            "predictions_dir": str(folder),
            "by_label": by_label,
            "alarm": bool(alarms),
            "alarms": alarms,
            "warnings": span_warnings + [f"{lab}: {w}" for lab, v in by_label.items() for w in v["warnings"]],
            "monitor_dir": str(out),
            "tfma_dir": str(out / "tfma") if realized else None,
        }
        atomic_write_json(tmp / MONITOR_FILE, result)
    return result
