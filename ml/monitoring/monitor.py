"""`monitor --span D [--stage estimated|realized] [--as-of T]`: the live model on one span.

Judged twice (ml.monitoring.judge): `estimated` as soon as the span's prediction log is complete
(the CBPE estimate against the band at the number of predictions: a drop warns, before any
label), then `realized` once its labels have landed or are overdue (TFMA over the joined rows;
a drop below the band alarms and retrains). Per model that served the span, judged as the
version that answered (a version label, `stable` or `canary`, or `v<N>` for a pinned version; a
label that moved to another version during the span gives one group per version: `stable@v1`,
`stable@v2`), and over all of them (`all`, when there are several):
- counts: predictions, labelled, coverage, what could not be joined and why, scores unusable;
- realized metrics (TFMA over the labelled rows, ml.monitoring.realized) on every slice;
- the CBPE estimate of `monitoring.metric` over every prediction (and over the labelled ones,
  for its error), each row calibrated by its own version's reference;
- the alarm band per alarm slice (ml.monitoring.band), each check at `false_alarm_rate / K`
  for the K checks of the span, so that a span with no change alarms at that rate.
A restatement that clears an earlier cutoff's alarm records it as withdrawn.

As of a time: the labels that had landed by the cutoff (ml.monitoring.label_arrivals) and the
predictions answered by then; the cutoff is now unless `as_of` is given, so recomputing a span
as of an earlier run's cutoff gives that run's numbers. A run whose inputs (predictions, label
versions, completeness, the monitoring settings) are those of the stage's newest result returns
that result (`reused`) instead of restating it.

Written to `<artifact_root>/<pipeline>/monitoring/<span>/<cutoff>/` (monitor.json, tfma/,
joined.tfrecord.gz): a later run writes a new folder, the earlier one stays.
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
from ml.model.layout import SAVED_MODEL_PB, EvaluationLayout
from ml.monitoring.band import per_check_quantile
from ml.monitoring.calibration import usable
from ml.monitoring.ground_truth import join, label_rows, predictions_frame
from ml.monitoring.judge import REALIZED, checked, judge_group
from ml.monitoring.label_arrivals import files_as_of, observe
from ml.monitoring.realized import ALL_LABELS, SERVED_BY, realized_metrics
from ml.monitoring.reference import Reference, build_reference
from ml.monitoring.served_inputs import check_served_inputs
from ml.roots import Roots
from ml.serving.layout import ServingLayout
from ml.serving.log_store import DONE_MARKER
from ml.serving.prediction_log import Prediction, read_log
from ml.spans import MONITOR_FILE, SpanPaths, parse_span


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
    if (
        blessing_file
        and (beside := EvaluationLayout(Path(blessing_file).parent).monitoring_reference).is_file()
    ):
        return Reference.of(read_json(beside))
    cached = SpanPaths(cfg, roots).reference_cache(version)
    if not cached.is_file():
        if not (blessing_file and Path(blessing_file).is_file() and (folder / SAVED_MODEL_PB).is_file()):
            return None
        from ml.model.predict import ServingModel

        files = [Path(f) for f in read_json(Path(blessing_file)).get("eval_files", []) if Path(f).is_file()]
        atomic_write_json(cached, build_reference(cfg, ServingModel(folder, cfg), files))
    return Reference.of(read_json(cached))


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
        "label": cfg.spec.label.model_dump(mode="json"),
    }
    digest.update(json.dumps([settings, state], sort_keys=True, default=str).encode())
    for p in sorted(predictions, key=lambda p: (p.request_id, p.time, p.version)):
        digest.update(json.dumps([p.request_id, p.time, p.version, p.label, p.outputs], default=str).encode())
    return digest.hexdigest()


def newest_result(paths: SpanPaths, span: str, stage: str) -> dict[str, Any] | None:
    """The span's newest monitor.json of this stage."""
    folder = paths.monitor_dir(span)
    found = [read_json(f) for f in folder.glob(f"*/{MONITOR_FILE}")] if folder.is_dir() else []
    found = [r for r in found if r.get("stage", REALIZED) == stage]
    return max(found, key=lambda r: dt.datetime.fromisoformat(r["cutoff"]), default=None)


def _closed_by(folder: Path, cutoff: dt.datetime) -> bool:
    marker = folder / DONE_MARKER
    return marker.is_file() and dt.datetime.fromtimestamp(marker.stat().st_mtime, dt.UTC) <= cutoff


def _scored(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """The predictions whose score is a probability, and how many were not (left out)."""
    finite = np.isfinite(frame["score"].to_numpy(dtype=float))
    good = usable(frame["score"].to_numpy(dtype=float))
    counts = {"no_score": int((~finite).sum()), "score_out_of_range": int((finite & ~good).sum())}
    return frame[good].reset_index(drop=True), counts


def monitor_span(
    cfg: PipelineConfig,
    roots: Roots,
    span: str,
    as_of: dt.datetime | None = None,
    *,
    stage: str = REALIZED,
    reuse: bool = True,
) -> dict[str, Any]:
    """Judge one span: `estimated` from its prediction log alone, or `realized` with the labels
    landed by `as_of` (default: now); returns (and writes) its monitor.json, or the stage's newest
    one when nothing it depends on changed (`reuse`)."""
    span = parse_span(cfg, span)
    paths = SpanPaths(cfg, roots)
    spec = cfg.monitoring
    now = dt.datetime.now(dt.UTC)
    when = (as_of or now).astimezone(dt.UTC)
    cutoff = when.isoformat(timespec="milliseconds")
    realized_stage = stage == REALIZED
    label_files: list[Path] = []
    labels_complete = False
    if realized_stage:
        ledger = observe(cfg, paths, span, now)
        label_files, labels_complete = files_as_of(cfg, paths, span, ledger, when)
    folder = paths.predictions_dir(span)
    log = read_log(folder)
    predictions = [p for p in log.predictions if p.time <= when.timestamp()]
    predictions_complete = _closed_by(folder, when)
    state = {
        "stage": stage,
        "labels": sorted(f.name for f in label_files),
        "labels_complete": labels_complete,
        "predictions_complete": predictions_complete,
    }
    digest = inputs_digest(cfg, predictions, state)
    previous = newest_result(paths, span, stage)
    if reuse and as_of is None and previous is not None and previous.get("inputs_digest") == digest:
        return previous | {"reused": True}
    truth = label_rows(cfg, span, label_files, labels_complete)
    features = [f.name for f in cfg.landed_features]
    frame, score_counts = _scored(predictions_frame(predictions, features, spec.score_output))
    joined = join(frame, truth)
    rows = joined.rows
    counts = joined.counts | score_counts | {"late_predictions": log.late}
    if not realized_stage:
        counts = {
            k: counts[k] for k in ("predictions", "duplicate_predictions", *score_counts, "late_predictions")
        }
    out = paths.monitor_dir(span) / cutoff_slug(cutoff)
    partial_why = [
        why
        for why, missing in (
            ("predictions incomplete (no _SUCCESS)", not predictions_complete),
            ("labels incomplete (no done marker)", realized_stage and not labels_complete),
        )
        if missing
    ]
    span_warnings = []
    if not predictions:
        span_warnings.append(f"no predictions logged for span {span} ({folder})")
    if realized_stage and predictions and joined.counts["coverage"] < spec.min_coverage:
        span_warnings.append(f"label coverage {joined.counts['coverage']:.0%} < {spec.min_coverage:.0%}")
    unusable = score_counts["no_score"] + score_counts["score_out_of_range"]
    if unusable:
        span_warnings.append(
            f"{unusable} predictions have no usable score (no {spec.score_output!r} output, not a number, "
            "or outside [0, 1]): left out of every metric"
        )
    if log.late:
        span_warnings.append(f"{log.late} predictions were logged after the span's log was closed")
    span_warnings += [f"partial: {why}" for why in partial_why]
    by_label: dict[str, dict[str, Any]] = {}
    if len(rows):
        rows[SERVED_BY] = served_by(rows)
    if not realized_stage:
        rows["y"] = pd.array([pd.NA] * len(rows), dtype="Int64")
    with atomic_dir(out) as tmp:
        realized = realized_metrics(cfg, rows, tmp) if realized_stage and len(rows) else {}
        groups = sorted(rows[SERVED_BY].unique()) if len(rows) else []
        versions = {g: int(rows.loc[rows[SERVED_BY] == g, "version"].iloc[0]) for g in groups}
        references = {v: served_reference(cfg, roots, v) for v in set(versions.values())}
        probabilities = np.full(len(rows), np.nan)
        for group, answered_by in versions.items():
            ref = references[answered_by]
            mask = (rows[SERVED_BY] == group).to_numpy()
            if ref is not None:
                probabilities[mask] = ref.calibrator(rows.loc[mask, "score"].to_numpy(dtype=float))
        judged = [*groups, ALL_LABELS] if len(groups) > 1 else groups  # `all` is the one group
        checks = sum(
            checked(spec, rows[(rows[SERVED_BY] == g) if g != ALL_LABELS else slice(None)], stage)
            for g in judged
        )
        quantile = per_check_quantile(spec.false_alarm_rate, checks)
        busiest = (
            max(versions.values(), key=lambda v: int((rows["version"] == v).sum())) if versions else None
        )
        for group in [*groups, ALL_LABELS] if groups else []:
            mask = np.ones(len(rows), bool) if group == ALL_LABELS else (rows[SERVED_BY] == group).to_numpy()
            version = busiest if group == ALL_LABELS else versions[group]
            ref = references.get(version) if version is not None else None
            known = probabilities[mask]
            calibrated = known if ref is not None and not np.isnan(known).any() else None
            part = rows[mask]
            verdict = judge_group(
                spec,
                part,
                realized.get(group, {}),
                ref,
                calibrated,
                quantile,
                stage=stage,
                partial=bool(partial_why),
            )
            if group not in judged:
                verdict["alarms"] = []  # the same rows as the one group: judged there
            by_label[group] = {
                "version": version if group != ALL_LABELS else None,
                "versions": sorted({int(v) for v in part["version"]}),
                "predictions": int(len(part)),
                "labelled": int(part["y"].notna().sum()),
                "coverage": round(float(part["y"].notna().mean()), 6)
                if len(part) and realized_stage
                else None,
                **verdict,
                "metrics": realized.get(group, {}),
            }
        for answered_by, ref in sorted(references.items()):
            if ref is not None and span in set(ref.spans.tolist()):
                span_warnings.append(
                    f"span {span} is inside version {answered_by}'s training window: the model was trained "
                    "and evaluated on it, so its numbers here are optimistic; monitor later spans"
                )
        answered_most = references.get(busiest) if busiest is not None else None
        trained_on = sorted(set(answered_most.spans.tolist())) if answered_most is not None else []
        served = (
            check_served_inputs(cfg, paths, span, frame, busiest, trained_on, tmp) if len(frame) else None
        )
        if served is not None:
            span_warnings += served["warnings"]
            served = {k: v for k, v in served.items() if k != "warnings"} | {
                "stats_file": str(out / Path(served["stats_file"]).name),
                "facets": str(out / Path(served["facets"]).name) if served["facets"] else None,
            }
        served_drift = sorted(set(served["drifted"]) & set(spec.served_drift_features)) if served else []
        alarms = [f"{label}: {a}" for label, v in by_label.items() for a in v["alarms"]]
        withdrawn = None
        if (
            realized_stage
            and previous is not None
            and previous.get("alarm")
            and not alarms
            and previous["cutoff"] < cutoff
        ):
            withdrawn = {"cutoff": previous["cutoff"], "alarms": previous["alarms"]}
            span_warnings.append(
                f"the alarm of cutoff {previous['cutoff']} is withdrawn: this restatement clears it"
            )
        result = {
            "pipeline": cfg.name,
            "span": span,
            "stage": stage,
            "cutoff": cutoff,
            "as_of": as_of is not None,
            "partial": bool(partial_why),
            "counts": counts,
            "unjoined_examples": joined.examples if realized_stage else {},
            "labels_files": [str(f) for f in label_files],
            "predictions_dir": str(folder),
            "false_alarm_rate": spec.false_alarm_rate,
            "checks": checks,
            "by_label": by_label,
            "alarm": bool(alarms),
            "alarms": alarms,
            "withdrawn": withdrawn,
            "served_inputs": served,
            "served_drift": served_drift,
            "warnings": span_warnings + [f"{lab}: {w}" for lab, v in by_label.items() for w in v["warnings"]],
            "monitor_dir": str(out),
            "tfma_dir": str(SpanPaths.monitor_tfma_dir(out)) if realized else None,
            "inputs_digest": digest,
        }
        atomic_write_json(SpanPaths(cfg, roots).monitor_file(tmp), result)
    return result
