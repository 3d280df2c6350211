"""What each step writes into the results store, always derived from the artifacts on disk.

`ml/commands/*` call these after their step returned (or failed with a report), and
`rebuild` calls the same functions over every artifact, so a rebuilt store equals the live one.
Each function replaces the rows it owns: re-running a step replaces its results.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ml.artifact import A, StepFailure
from ml.atomic import read_json
from ml.config import PipelineConfig
from ml.data.schema import short_name
from ml.data.span_results import CheckSummary, IngestSummary, SpanVerdict
from ml.model.blessing import Blessing
from ml.model.layout import EvaluationLayout, ModelLayout
from ml.model.train_result import TrainResult
from ml.results import schema as t
from ml.results.store import ResultsStore
from ml.roots import Roots
from ml.spans import SpanPaths


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _json(path: Path) -> dict[str, Any] | None:
    return read_json(path) if path.is_file() else None


def _read(model: type[A], path: Path) -> A | None:
    return model.read(path) if path.is_file() else None


def _comparison_rows(check: CheckSummary, name: str, anomalies: list[dict]) -> list[dict]:
    """One row per compared feature of a drift or skew check (distance, threshold, comparator)."""
    alarmed = {a["feature"] for a in anomalies if a["check"] == name}
    return [
        {
            "check": name,
            "name": feature,
            "kind": m["type"],
            "passed": feature not in alarmed,
            "value": m["value"],
            "threshold": m["threshold"],
            "comparator": short_name(m["type"]),
            "baseline_span": check.baseline_span,
            "severity": check.severity,
        }
        for feature, m in sorted(check.measurements.items())
    ]


def check_rows(verdict: SpanVerdict) -> list[dict]:
    """Every GE expectation (pass or fail), schema anomaly and drift/skew feature of a verdict."""
    anomalies = verdict.anomalies
    ge = verdict.check("great_expectations")
    rows = [
        {
            "check": "great_expectations",
            "name": r["column"],
            "kind": r["expectation"],
            "passed": r["passed"],
            "severity": ge.severity,
            "detail": r.get("detail"),
        }
        for r in ge.results
    ]
    rows += [
        {
            "check": "schema",
            "name": a["feature"],
            "kind": a["kind"],
            "passed": False,
            "severity": a["severity"],
            "detail": a["description"],
        }
        for a in anomalies
        if a["check"] == "schema"
    ]
    for name in ("drift", "skew"):
        rows += _comparison_rows(verdict.check(name), name, anomalies)
    return rows


def null_fractions(stats_file: Path) -> list[dict]:
    """`[{column, null_fraction}]` of a span's TFDV statistics (`validation/stats.tfrecord`)."""
    if not stats_file.is_file():
        return []
    from ml.tfrecord import read_statistics

    stats = read_statistics(stats_file)
    rows = []
    for feature in stats.datasets[0].features if stats.datasets else []:
        kind = feature.WhichOneof("stats")
        common = getattr(feature, kind).common_stats if kind in ("num_stats", "string_stats") else None
        if common is None:
            continue
        total = common.num_missing + common.num_non_missing
        rows.append(
            {
                "column": ".".join(feature.path.step) or feature.name,
                "null_fraction": round(common.num_missing / total, 6) if total else 0.0,
            }
        )
    return sorted(rows, key=lambda r: r["column"])


def span_row(paths: SpanPaths, span: str) -> tuple[dict, list[dict], list[dict]] | None:
    """The span's row, check rows and column rows from its artifacts; None when nothing was
    written yet."""
    summary = _read(IngestSummary, paths.ingest_summary(span))
    failure = _read(StepFailure, paths.ingest_failure_file(span))
    verdict = _read(SpanVerdict, paths.verdict_file(span))
    timings = _json(paths.timings_file(span)) or {}
    if summary is None and failure is None and verdict is None:
        return None
    row: dict[str, Any] = {
        "pipeline": paths.cfg.name,
        "span": span,
        "ingest_seconds": timings.get("ingest"),
        "validate_seconds": timings.get("validate"),
        "updated_at": now(),
    }
    if summary:
        row.update(
            rows=summary.rows_in,
            train_rows=summary.rows_out.get("train"),
            eval_rows=summary.rows_out.get("eval"),
            label_positive_rate=summary.label_positive_rate,
        )
    checks: list[dict] = []
    columns: list[dict] = []
    if failure is not None:
        row.update(status="ingest_failed", error=failure.message)
    elif verdict is not None and not verdict.checks:  # a hand-written verdict: its flag only
        row.update(status="passed" if verdict.passed else "failed")
    elif verdict is not None:
        ge, drift, skew = (verdict.check(name) for name in ("great_expectations", "drift", "skew"))
        row.update(
            status="passed" if verdict.passed else "failed",
            rows=verdict.rows,
            ge_evaluated=ge.expectations,
            ge_failed=ge.anomalies,
            schema_anomalies=verdict.check("schema").anomalies,
            drift_ran=drift.ran,
            drift_alarms=drift.anomalies,
            skew_ran=skew.ran,
            skew_alarms=skew.anomalies,
            baseline_span=drift.baseline_span,
            baseline_reason=drift.baseline_reason,
            blocking=verdict.blocking,
            warnings=verdict.warnings,
        )
        checks = check_rows(verdict)
        columns = null_fractions(paths.stats_file(span))
    else:
        row["status"] = "ingested"
    return row, checks, columns


def _replace_span(conn: Connection, row: dict, checks: list[dict], columns: list[dict]) -> None:
    base = {"pipeline": row["pipeline"], "span": row["span"]}
    for table in (t.spans, t.checks, t.span_columns):
        conn.execute(
            sa.delete(table).where((table.c.pipeline == base["pipeline"]) & (table.c.span == base["span"]))
        )
    conn.execute(sa.insert(t.spans), [row])
    if columns:
        conn.execute(sa.insert(t.span_columns), [base | c for c in columns])
    if checks:
        full = [{c.name: None for c in t.checks.columns if c.name != "id"} | base | r for r in checks]
        conn.execute(sa.insert(t.checks), full)


def write_span(store: ResultsStore, row: dict, checks: list[dict], columns: list[dict] | None = None) -> None:
    """Replace one span's row, check rows and column rows in one transaction."""
    store.write(_replace_span, row, checks, columns or [])


def record_span(store: ResultsStore, cfg: PipelineConfig, roots: Roots, span: str) -> dict | None:
    """Replace the span's rows from its artifacts (summary, ingest failure, verdict, timings)."""
    found = span_row(SpanPaths(cfg, roots), span)
    if found is None:
        return None
    write_span(store, *found)
    return found[0]


def evaluation_rows(cfg: PipelineConfig, evaluation_dir: Path) -> dict[str, Any] | None:
    """The model row, its lineage and metric rows from an evaluation dir (blessing + metrics)."""
    evaluation = EvaluationLayout(evaluation_dir)
    metrics = _json(evaluation.metrics)
    if not evaluation.blessing.is_file() or metrics is None:
        return None
    blessing = Blessing.read(evaluation.blessing)
    model_dir = Path(blessing.model_dir)
    train_file = ModelLayout(model_dir).train_result
    train = TrainResult.read(train_file) if train_file.is_file() else None
    run_id = model_dir.name
    failures = blessing.failures
    trained = sorted(train.spans) if train else []
    decided = blessing.decided_by  # ml.model.gate; older blessings: the first failure
    if decided is None and failures and "decided_by" not in blessing.model_fields_set:
        decided = f"{failures[0]['metric']} on {failures[0]['slice']}"
    reason = blessing.reason if decided else None
    if reason is None and failures:
        reason = failures[0].get("message")
    model = {
        "pipeline": cfg.name,
        "run_id": run_id,
        "model_dir": str(model_dir),
        "evaluation_dir": str(evaluation_dir),
        "first_span": trained[0] if trained else None,
        "last_span": trained[-1] if trained else None,
        "blessed": blessing.blessed,
        "decided_by": decided,
        "reason": reason,
        "thresholds": blessing.thresholds,
        "baseline_version": blessing.baseline_version,
        "evaluated_at": blessing.evaluated_at,
        "transform_digest": train.transform_digest if train else None,
        "weights_digest": train.weights_digest if train else None,
    }
    lineage = [{"span": s, "role": "train"} for s in trained]
    lineage += [{"span": s, "role": "eval"} for s in sorted(blessing.spans)]
    values = [
        {"model": group, "slice": slice_name, "metric": metric, "value": value}
        for slice_name, groups in metrics.items()
        for group, named in groups.items()
        for metric, value in named.items()
    ]
    return {"model": model, "lineage": lineage, "metrics": values}


def _replace_model(conn: Connection, rows: dict[str, Any]) -> None:
    model = rows["model"]
    base = {"pipeline": model["pipeline"], "run_id": model["run_id"]}
    for table in (t.models, t.model_spans, t.model_metrics):
        conn.execute(
            sa.delete(table).where(
                (table.c.pipeline == base["pipeline"]) & (table.c.run_id == base["run_id"])
            )
        )
    conn.execute(sa.insert(t.models), [model])
    if rows["lineage"]:
        conn.execute(sa.insert(t.model_spans), [base | r for r in rows["lineage"]])
    if rows["metrics"]:
        conn.execute(sa.insert(t.model_metrics), [base | r for r in rows["metrics"]])


def record_evaluation(store: ResultsStore, cfg: PipelineConfig, evaluation_dir: Path) -> dict | None:
    """Replace one training run's model row, lineage and metrics from its evaluation dir."""
    rows = evaluation_rows(cfg, Path(evaluation_dir))
    if rows is None:
        return None
    store.write(_replace_model, rows)
    return rows["model"]


def _replace_serving(conn: Connection, pipeline: str, events: list[dict]) -> None:
    conn.execute(sa.delete(t.serving_events).where(t.serving_events.c.pipeline == pipeline))
    if events:
        conn.execute(sa.insert(t.serving_events), [{"pipeline": pipeline} | e for e in events])


def record_serving(store: ResultsStore, cfg: PipelineConfig, events: list[dict]) -> int:
    """Replace the pipeline's serving history (push + rollback events from the serving root)."""
    store.write(_replace_serving, cfg.name, events)
    return len(events)


def monitor_rows(result: dict[str, Any]) -> dict[str, list[dict]]:
    """The run rows (one per version label) and realized-metric rows of a span's monitor.json."""
    base = {"pipeline": result["pipeline"], "span": result["span"], "cutoff": result["cutoff"]}
    counts = result["counts"]
    stage = result.get("stage", "realized")
    withdrawn = result.get("withdrawn") or {}
    withdrawn_text = (
        f"cutoff {withdrawn['cutoff']}: " + "; ".join(withdrawn["alarms"])
        if withdrawn.get("alarms")
        else None
    )
    runs, metrics = [], []
    for label, v in result["by_label"].items():
        band = v.get("band") or (None, None)
        runs.append(
            base
            | {
                "version_label": label,
                "stage": stage,
                "version": v.get("version"),
                "predictions": v["predictions"],
                "labelled": v["labelled"],
                "coverage": v["coverage"],
                "partial": bool(result["partial"]),
                "metric": v["metric"],
                "realized": v["realized"],
                "estimated": v["estimated"],
                "estimation_error": v["estimation_error"],
                "band_low": band[0],
                "band_high": band[1],
                "score_jsd": v["score_jsd"],
                "alarm": bool(v["alarms"]),
                "alarms": "; ".join(v["alarms"]) or None,
                "withdrawn": withdrawn_text,
                "warnings": "; ".join(v["warnings"]) or None,
                "no_label_row": counts.get("no_label_row"),
                "label_unknown": counts.get("label_unknown"),
                "unknown_ids": counts.get("unknown_ids"),
                "duplicate_predictions": counts.get("duplicate_predictions"),
                "monitor_dir": result.get("monitor_dir"),
            }
        )
        metrics += [
            base | {"version_label": label, "slice": slice_name, "metric": metric, "value": value}
            for slice_name, values in v.get("metrics", {}).items()
            for metric, value in values.items()
        ]
    if not runs:  # a span with no predictions: one `all` row that says so
        runs.append(
            base
            | {c.name: None for c in t.monitor_runs.columns if c.name not in base}
            | {"version_label": "all", "predictions": 0, "labelled": 0, "partial": bool(result["partial"])}
            | {"stage": stage}
            | {"alarm": False, "warnings": "; ".join(result.get("warnings", [])) or None}
            | {"monitor_dir": result.get("monitor_dir"), "unknown_ids": counts.get("unknown_ids")}
        )
    return {"runs": runs, "metrics": metrics}


def _replace_monitor(conn: Connection, rows: dict[str, list[dict]]) -> None:
    first = rows["runs"][0]
    for table in (t.monitor_runs, t.monitor_metrics):
        conn.execute(
            sa.delete(table).where(
                (table.c.pipeline == first["pipeline"])
                & (table.c.span == first["span"])
                & (table.c.cutoff == first["cutoff"])
            )
        )
    conn.execute(sa.insert(t.monitor_runs), rows["runs"])
    if rows["metrics"]:
        conn.execute(sa.insert(t.monitor_metrics), rows["metrics"])


def record_monitor(store: ResultsStore, result: dict[str, Any]) -> list[dict]:
    """Add (or replace, same cutoff) one monitoring of a span; earlier cutoffs stay."""
    rows = monitor_rows(result)
    store.write(_replace_monitor, rows)
    return rows["runs"]
