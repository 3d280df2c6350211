"""`monitor --span D [--as-of T]`: the live model on one span: join, realized, estimated, bands,
one verdict.

Per model that served the span, judged as the version that answered (a version label, `stable`
or `canary`, or `v<N>` for a pinned version; a label that moved to another version during the
span gives one judged group per version: `stable@v1`, `stable@v2`), and over all of them (`all`):
- counts: predictions, labelled, coverage, and what could not be joined and why;
- realized metrics (TFMA over the labelled rows, ml.monitoring.realized) on every slice;
- the CBPE estimate of `monitoring.metric` over every prediction, labelled or not, each row
  calibrated by its own version's reference, and its error once the realized value exists;
- the alarm band of the metric at the span's labelled count, per alarm slice (bootstrap of the
  version's reference, ml.monitoring.reference).
A realized value below its band on an alarm slice with at least `min_labelled` labelled
predictions is an alarm (it retrains); an estimate below the band, prediction drift (scores vs
the eval split, Jensen-Shannon), low label coverage and partial labels only warn.

As of a time: the labels that had landed by the cutoff (ml.monitoring.label_arrivals) and the
predictions answered by then; the cutoff is now unless `as_of` is given, so recomputing a span
as of an earlier run's cutoff gives that run's numbers. A run whose inputs (predictions, label
versions, completeness, the monitoring settings) are those of the span's newest result returns
that result (`reused`) instead of restating it.

Written to `<artifact_root>/<pipeline>/monitoring/<span>/<label cutoff>/` (monitor.json, tfma/,
joined.tfrecord.gz): a re-run when more labels have arrived restates the span in a new folder,
the earlier one stays.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.atomic import atomic_dir, atomic_write_json, read_json
from ml.config import PipelineConfig
from ml.model.slices import OVERALL
from ml.monitoring.estimate import estimate, js_divergence
from ml.monitoring.ground_truth import join, label_rows, predictions_frame
from ml.monitoring.label_arrivals import files_as_of, observe
from ml.monitoring.realized import ALL_LABELS, SERVED_BY, realized_metrics
from ml.monitoring.reference import REFERENCE_FILE, Reference, build_reference
from ml.roots import Roots
from ml.serving.layout import ServingLayout
from ml.serving.log_store import DONE_MARKER
from ml.serving.prediction_log import Prediction, read_log
from ml.spans import SpanPaths, parse_span

MONITOR_FILE = "monitor.json"


def cutoff_slug(cutoff: str) -> str:
    """A folder name for a label cutoff: `2013-01-16T06:00:00.250+00:00` -> `2013-01-16T06-00-00.250Z`
    (whole seconds: `2013-01-16T06-00-00Z`)."""
    when = dt.datetime.fromisoformat(cutoff).astimezone(dt.UTC)
    millis = f".{when.microsecond // 1000:03d}" if when.microsecond else ""
    return when.strftime("%Y-%m-%dT%H-%M-%S") + f"{millis}Z"


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
    probabilities: np.ndarray | None = None,
) -> dict[str, Any]:
    """One group's verdict on the span: estimate, bands per alarm slice, alarm, warnings.
    `probabilities`: the rows' calibrated scores (default: by `reference`'s calibrator)."""
    spec = cfg.monitoring
    metric = spec.metric
    labelled = rows[rows["y"].notna()]
    scores = rows["score"].to_numpy(dtype=float)
    if probabilities is None and reference is not None:
        probabilities = reference.calibrator(scores)
    estimated = estimate(metric, scores, probabilities) if probabilities is not None else None
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


def served_by(rows: pd.DataFrame) -> pd.Series:
    """Each row's judged group: its version label, or `<label>@v<N>` when the label was answered
    by several versions in the span (it moved), so each version is judged as itself."""
    groups = rows["version_label"].astype(str).copy()
    for label, versions in rows.groupby("version_label")["version"].nunique().items():
        if versions > 1:
            moved = rows["version_label"] == label
            groups[moved] = f"{label}@v" + rows.loc[moved, "version"].astype(str)
    return groups


def inputs_digest(cfg: PipelineConfig, predictions: list[Prediction], state: dict[str, Any]) -> str:
    """What a monitoring depends on: the predictions, the label versions and completeness (in
    `state`), and the settings that judge them."""
    digest = hashlib.sha256()
    settings = {
        "monitoring": cfg.monitoring.model_dump(mode="json"),
        "slices": cfg.eval_sliced,
        "metrics": cfg.eval_metrics,
        "min_slice_size": cfg.eval_options.min_slice_size,
        "label": cfg.raw.get("label"),
    }
    digest.update(json.dumps([settings, state], sort_keys=True, default=str).encode())
    for p in sorted(predictions, key=lambda p: (p.request_id, p.time, p.version)):
        digest.update(json.dumps([p.request_id, p.time, p.version, p.label, p.outputs], default=str).encode())
    return digest.hexdigest()


def newest_result(paths: SpanPaths, span: str) -> dict[str, Any] | None:
    folder = paths.monitor_dir(span)
    found = [read_json(f) for f in folder.glob(f"*/{MONITOR_FILE}")] if folder.is_dir() else []
    return max(found, key=lambda r: dt.datetime.fromisoformat(r["cutoff"]), default=None)


def _closed_by(folder: Path, cutoff: dt.datetime) -> bool:
    marker = folder / DONE_MARKER
    return marker.is_file() and dt.datetime.fromtimestamp(marker.stat().st_mtime, dt.UTC) <= cutoff


def monitor_span(
    cfg: PipelineConfig, roots: Roots, span: str, as_of: dt.datetime | None = None, *, reuse: bool = True
) -> dict[str, Any]:
    """Monitor one span with the labels landed by `as_of` (default: now); returns (and writes)
    its monitor.json, or the newest one when nothing it depends on changed (`reuse`)."""
    span = parse_span(cfg, span)
    paths = SpanPaths(cfg, roots)
    now = dt.datetime.now(dt.UTC)
    when = (as_of or now).astimezone(dt.UTC)
    cutoff = when.isoformat(timespec="milliseconds")
    ledger = observe(cfg, paths, span, now)
    label_files, labels_complete = files_as_of(cfg, paths, span, ledger, when)
    folder = paths.predictions_dir(span)
    log = read_log(folder)
    predictions = [p for p in log.predictions if p.time <= when.timestamp()]
    predictions_complete = _closed_by(folder, when)
    state = {
        "labels": sorted(f.name for f in label_files),
        "labels_complete": labels_complete,
        "predictions_complete": predictions_complete,
    }
    digest = inputs_digest(cfg, predictions, state)
    if reuse and as_of is None and (previous := newest_result(paths, span)):
        if previous.get("inputs_digest") == digest:
            return previous | {"reused": True}
    truth = label_rows(cfg, span, label_files, labels_complete)
    features = [f.name for f in cfg.landed_features]
    frame = predictions_frame(predictions, features, cfg.monitoring.score_output)
    scored = frame["score"].notna() & np.isfinite(frame["score"].astype(float))
    joined = join(frame[scored].reset_index(drop=True), truth)
    rows = joined.rows
    counts = joined.counts | {"no_score": int((~scored).sum()), "late_predictions": log.late}
    out = paths.monitor_dir(span) / cutoff_slug(cutoff)
    partial_why = [
        why
        for why, missing in (
            ("predictions incomplete (no _SUCCESS)", not predictions_complete),
            ("labels incomplete (no done marker)", not labels_complete),
        )
        if missing
    ]
    spec = cfg.monitoring
    span_warnings = []
    if not predictions:
        span_warnings.append(f"no predictions logged for span {span} ({folder})")
    if predictions and joined.counts["coverage"] < spec.min_coverage:
        span_warnings.append(f"label coverage {joined.counts['coverage']:.0%} < {spec.min_coverage:.0%}")
    if counts["no_score"]:
        span_warnings.append(
            f"{counts['no_score']} predictions have no score (no {spec.score_output!r} output, or not a "
            "number): left out of every metric"
        )
    if log.late:
        span_warnings.append(f"{log.late} predictions were logged after the span's log was closed")
    span_warnings += [f"partial: {why}" for why in partial_why]
    by_label: dict[str, dict[str, Any]] = {}
    if len(rows):
        rows[SERVED_BY] = served_by(rows)
    with atomic_dir(out) as tmp:
        realized = realized_metrics(cfg, rows, tmp) if len(rows) else {}
        groups = sorted(rows[SERVED_BY].unique()) if len(rows) else []
        versions = {g: int(rows.loc[rows[SERVED_BY] == g, "version"].iloc[0]) for g in groups}
        references = {v: served_reference(cfg, roots, v) for v in set(versions.values())}
        probabilities = np.full(len(rows), np.nan)
        for group, answered_by in versions.items():
            ref = references[answered_by]
            mask = (rows[SERVED_BY] == group).to_numpy()
            if ref is not None:
                probabilities[mask] = ref.calibrator(rows.loc[mask, "score"].to_numpy(dtype=float))
        busiest = (
            max(versions.values(), key=lambda v: int((rows["version"] == v).sum())) if versions else None
        )
        for group in [*groups, ALL_LABELS] if groups else []:
            mask = np.ones(len(rows), bool) if group == ALL_LABELS else (rows[SERVED_BY] == group).to_numpy()
            version = busiest if group == ALL_LABELS else versions[group]
            ref = references.get(version) if version is not None else None
            known = probabilities[mask]
            calibrated = known if ref is not None and not np.isnan(known).any() else None
            verdict = judge_label(cfg, rows[mask], realized.get(group, {}), ref, calibrated)
            if group == ALL_LABELS and len(groups) == 1:
                verdict["alarms"] = []  # the same rows as the one group: alarmed there
            part = rows[mask]
            by_label[group] = {
                "version": version if group != ALL_LABELS else None,
                "versions": sorted({int(v) for v in part["version"]}),
                "predictions": int(len(part)),
                "labelled": int(part["y"].notna().sum()),
                "coverage": round(float(part["y"].notna().mean()), 6) if len(part) else 0.0,
                **verdict,
                "metrics": realized.get(group, {}),
            }
        alarms = [f"{label}: {a}" for label, v in by_label.items() for a in v["alarms"]]
        result = {
            "pipeline": cfg.name,
            "span": span,
            "cutoff": cutoff,
            "as_of": as_of is not None,
            "partial": bool(partial_why),
            "counts": counts,
            "unjoined_examples": joined.examples,
            "labels_files": [str(f) for f in label_files],
            "predictions_dir": str(folder),
            "by_label": by_label,
            "alarm": bool(alarms),
            "alarms": alarms,
            "warnings": span_warnings + [f"{lab}: {w}" for lab, v in by_label.items() for w in v["warnings"]],
            "monitor_dir": str(out),
            "tfma_dir": str(out / "tfma") if realized else None,
            "inputs_digest": digest,
        }
        atomic_write_json(tmp / MONITOR_FILE, result)
    return result
