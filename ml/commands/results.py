"""`results init | rebuild | spans [--last N] | models [--slices [--metric M]] | monitor
[--all-cutoffs] [--json]`: the pipeline's results store."""

from __future__ import annotations

import argparse
from collections import Counter

from ml.config import PipelineConfig
from ml.roots import Roots
from ml.table import render_table

HELP = (
    "the pipeline's results store: init (create the database, migrate), rebuild it from the "
    "artifacts, or print its spans, models or the live model's monitoring"
)

Columns = tuple[tuple[str, str], ...]  # (header, row key)

SPAN_COLUMNS: Columns = (
    ("span", "span"),
    ("status", "status"),
    ("rows", "rows"),
    ("train", "train_rows"),
    ("eval", "eval_rows"),
    ("GE failed", "ge_failed"),
    ("schema", "schema_anomalies"),
    ("drift", "drift_alarms"),
    ("skew", "skew_alarms"),
    ("baseline", "baseline_span"),
    ("validate s", "validate_seconds"),
)
MONITOR_COLUMNS: Columns = (
    ("span", "span"),
    ("label", "version_label"),
    ("stage", "stage"),
    ("version", "version"),
    ("predictions", "predictions"),
    ("labelled", "labelled"),
    ("coverage", "coverage"),
    ("metric", "metric"),
    ("realized", "realized"),
    ("estimated", "estimated"),
    ("band low", "band_low"),
    ("alarm", "alarm"),
    ("partial", "partial"),
    ("restated", "restated"),
    ("cutoff", "cutoff"),
)
DIGEST_CHARS = 12  # the table's digest prefix (like a short git hash); --json has them whole
MODEL_COLUMNS: Columns = (
    ("run", "run_id"),
    ("window", "window"),
    ("AUC", "auc"),
    ("blessed", "blessed"),
    ("decided by", "decided_by"),
    ("version", "pushed_version"),
    ("live", "live"),
    ("transform", "transform"),
    ("weights", "weights"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("init", "rebuild", "spans", "models", "monitor"))
    parser.add_argument("--last", type=int, help="spans: only the newest N spans")
    parser.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    parser.add_argument(
        "--slices", action="store_true", help="models: each slice's metric per run and served version"
    )
    parser.add_argument("--metric", default="auc", help="models --slices: the metric (default auc)")
    parser.add_argument(
        "--all-cutoffs", action="store_true", help="monitor: every label cutoff, not only each span's newest"
    )


def _models(store, cfg: PipelineConfig) -> list[dict]:
    from ml.results import queries

    overall = {
        (m["run_id"], m["metric"]): m["value"]
        for m in queries.model_metrics(store, cfg.name)
        if m["slice"] == "Overall" and m["model"] == "candidate"
    }
    rows = queries.models(store, cfg.name)
    for row in rows:
        row["window"] = f"{row['first_span']}..{row['last_span']}" if row["first_span"] else None
        row["auc"] = overall.get((row["run_id"], "auc"))
        for short, digest in (("transform", "transform_digest"), ("weights", "weights_digest")):
            row[short] = (row.get(digest) or "")[:DIGEST_CHARS] or None
    return rows


def _slice_table(rows: list[dict]) -> tuple[list[str], list[list]]:
    """Slices down, runs across (`run (vN)` when pushed), the metric in each cell."""
    runs = list(dict.fromkeys(r["run_id"] for r in rows))  # rows: per slice, in evaluation order
    label = {r["run_id"]: r["label"] for r in rows}
    cells: dict[str, dict[str, float]] = {}
    for r in rows:
        cells.setdefault(r["slice"], {})[r["run_id"]] = r["value"]
    return ["slice", *[label[r] for r in runs]], [[s, *[v.get(r) for r in runs]] for s, v in cells.items()]


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> dict:
    from ml.results import open_store, queries

    if args.action == "init":
        from ml.results.store import create_database, results_url

        created = create_database(results_url(cfg, roots))
        open_store(cfg, roots).migrate()
        return {"command": "results", "action": "init", "created_database": created}
    store = open_store(cfg, roots)
    if args.action == "rebuild":
        from ml.results.rebuild import rebuild
        from ml.serving.history import serving_events
        from ml.serving.layout import ServingLayout

        return {
            "command": "results",
            "action": "rebuild",
            **rebuild(store, cfg, roots, serving_events(ServingLayout.of(cfg, roots))),
        }
    if args.action == "models" and args.slices:
        rows = queries.slice_metric_by_run(store, cfg.name, args.metric)
        result = {"command": "results", "action": "models", "metric": args.metric, "rows": rows}
        if not args.json:
            result["text"] = render_table(*_slice_table(rows))
        return result
    columns: Columns
    if args.action == "spans":
        rows, columns = queries.spans(store, cfg.name, last=args.last), SPAN_COLUMNS
    elif args.action == "monitor":
        rows, columns = queries.monitor_runs(store, cfg.name, latest=not args.all_cutoffs), MONITOR_COLUMNS
        if not args.json:  # the table: a span's `all` row only when several version labels served it
            labels = Counter((r["span"], r["cutoff"]) for r in rows if r["version_label"] != "all")
            rows = [r for r in rows if r["version_label"] != "all" or labels[(r["span"], r["cutoff"])] > 1]
    else:
        rows, columns = _models(store, cfg), MODEL_COLUMNS
    result = {"command": "results", "action": args.action, "rows": rows}
    if not args.json:
        result["text"] = render_table([h for h, _ in columns], [[r.get(k) for _, k in columns] for r in rows])
    return result
