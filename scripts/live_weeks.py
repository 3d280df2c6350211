"""After `make demo`: the live model over the following weeks of 2013 flights, on real data.

    .venv/bin/python scripts/live_weeks.py --to 2013-06-30 [--from SPAN] [--out FILE]

Day by day, as production would see it: the day lands (`landing`), its requests are answered by
the `stable` version (`serve-span`), it is estimated from its predictions alone (`monitor --stage
estimated`: CBPE before labels) and then monitored (`monitor`; its ground truth is the day's
arrival delays). On a retraining decision of the monitor (a performance alarm, or the served
inputs drifting on a `served_drift_features` feature) the last
`training.window_spans` days are ingested and validated, and a model is trained, evaluated and,
when blessed, pushed, as `<pipeline>_train` would (`transform`, `train`, `evaluate`,
`infra-validate`, `push`); the following days are served by whatever is `stable` then. Every
step is the `ml` CLI's, in-process (TensorFlow imported once). Prints a line per day (stderr)
and writes every day's numbers as JSON lines to --out (default .local/live_weeks.jsonl).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ml.cli import run_command  # noqa: E402
from ml.config import load_pipeline  # noqa: E402
from ml.errors import PipelineError  # noqa: E402
from ml.logs import quiet_libraries  # noqa: E402
from ml.roots import Roots  # noqa: E402
from ml.spans import SpanPaths, shift_span, span_range, window_ending  # noqa: E402


def ml(*args: str, pipeline: str) -> dict:
    return run_command([*args, "--pipeline", pipeline])


def retrain(pipeline: str, span: str, reason: str) -> dict:
    """Ingest + validate the window ending at `span`, then the train DAG's steps."""
    cfg = load_pipeline(pipeline)
    paths = SpanPaths(cfg, Roots.resolve())
    for day in window_ending(cfg, span, cfg.window_spans):
        if day not in paths.validated_spans():
            try:
                ml("ingest", "--span", day, pipeline=pipeline)
                ml("validate", "--span", day, pipeline=pipeline)
            except PipelineError as exc:
                print(f"  {day}: {exc}", file=sys.stderr)
    run_id = f"performance__{span}"
    xf = ml("transform", "--end-span", span, "--run-id", run_id, pipeline=pipeline)
    model = ml("train", "--transform-dir", xf["transform_dir"], pipeline=pipeline)
    evaluation = ml("evaluate", "--model", model["model_dir"], pipeline=pipeline)
    pushed = None
    if evaluation["blessed"]:
        ml("infra-validate", "--model", model["model_dir"], pipeline=pipeline)
        pushed = ml(
            "push", "--model", model["model_dir"], "--blessing", evaluation["blessing"], pipeline=pipeline
        )
    return {
        "span": span,
        "reason": reason,
        "run_id": run_id,
        "blessed": evaluation["blessed"],
        "decided_by": evaluation.get("decided_by"),
        "auc": (evaluation.get("candidate") or {}).get("auc"),
        "served_auc": (evaluation.get("baseline_metrics") or {}).get("auc"),
        "version": pushed["version"] if pushed else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", default="flights")
    parser.add_argument(
        "--from", dest="start", help="first day (default: the day after the newest predicted one)"
    )
    parser.add_argument("--to", dest="end", required=True)
    parser.add_argument("--out", default=str(ROOT / ".local" / "live_weeks.jsonl"))
    args = parser.parse_args()
    quiet_libraries()  # the commands run in this process: the CLI's quiet logs, not TFMA's per-slice lines
    cfg = load_pipeline(args.pipeline)
    predicted = SpanPaths(cfg, Roots.resolve()).predicted_spans()
    start = args.start or (shift_span(cfg, predicted[-1], 1) if predicted else None)
    if start is None:
        parser.error("no predicted span yet: run `make demo` first or pass --from")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a") as fh:
        for span in span_range(cfg, start, args.end):
            ml("landing", "--from", span, "--to", span, "--serving-log", pipeline=args.pipeline)
            served = ml("serve-span", "--span", span, pipeline=args.pipeline)
            estimate = ml("monitor", "--span", span, "--stage", "estimated", pipeline=args.pipeline)
            result = ml("monitor", "--span", span, pipeline=args.pipeline)
            stable = result["by_label"].get("stable", {})
            line = {
                "span": span,
                "version": served["versions"].get("stable"),
                "labelled": stable.get("labelled"),
                "realized": stable.get("realized"),
                "estimated": stable.get("estimated"),
                "band_low": (stable.get("band") or [None])[0],
                "estimate_warnings": [w for w in estimate["warnings"] if "estimated" in w],
                "served_warnings": [w for w in result["warnings"] if w.startswith("served inputs")],
                "alarm": result["alarm"],
                "alarms": result["alarms"],
                "trigger": result.get("trigger") if result["retrain"] else None,
            }
            if result["retrain"]:
                line["retrain"] = retrain(args.pipeline, span, result["reason"] or "performance")
            fh.write(json.dumps(line) + "\n")
            fh.flush()
            print(json.dumps(line), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
