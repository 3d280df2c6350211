"""What the demo produced: spans ingested/validated, the train run, metrics per slice, serving.

    python scripts/demo_summary.py --pipeline P --from SPAN --to SPAN --train-run-id RUN

Reads the artifact files (`ml` layout: ml.spans.SpanPaths, ml.serving.layout) and the train
run's task states and XComs from the Airflow REST API. Exit 1 when a span or the run failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from airflow_wait import Api  # noqa: E402  (scripts/ is this script's own folder)

from ml.atomic import read_json  # noqa: E402
from ml.config import load_pipeline  # noqa: E402
from ml.model.report import evaluation_report  # noqa: E402
from ml.roots import Roots  # noqa: E402
from ml.serving.labels import stable_version  # noqa: E402
from ml.serving.layout import ServingLayout  # noqa: E402
from ml.spans import SpanPaths, span_range  # noqa: E402


def load(path: Path) -> dict | None:
    return read_json(path) if path.is_file() else None


def spans_table(paths: SpanPaths, spans: list[str]) -> bool:
    print(
        f"{'span':<13} {'rows in':>7} {'train':>6} {'eval':>5} {'dropped':>7}  "
        f"{'validation':<10} {'blocking':>8} {'warnings':>8}"
    )
    ok = True
    for span in spans:
        summary, verdict = load(paths.ingest_summary(span)), load(paths.verdict_file(span))
        if summary is None:
            ok = False
            print(f"{span:<13} {'NOT INGESTED':>28}")
            continue
        dropped = sum((summary.get("rows_dropped") or {}).values())
        state = "missing" if verdict is None else ("passed" if verdict["passed"] else "FAILED")
        ok &= state == "passed"
        print(
            f"{span:<13} {summary['rows_in']:>7} {summary['rows_out']['train']:>6} "
            f"{summary['rows_out']['eval']:>5} {dropped:>7}  {state:<10} "
            f"{(verdict or {}).get('blocking', '-'):>8} {(verdict or {}).get('warnings', '-'):>8}"
        )
        for anomaly in (verdict or {}).get("anomalies", [])[:3]:
            print(
                f"{'':<13} - {anomaly.get('feature')} {anomaly.get('kind')} "
                f"({anomaly.get('check')}, {anomaly.get('severity')}): "
                f"{anomaly.get('description')}"[:120]
            )
    return ok


def xcom(api: Api, dag_id: str, run_id: str, task_id: str, key: str = "return_value"):
    run = urllib.parse.quote(run_id, safe="")
    try:
        return api.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{run}/taskInstances/{task_id}/xcomEntries/{key}",
            deserialize="true",
        )["value"]
    except urllib.error.HTTPError:
        return None


def train_summary(api: Api, dag_id: str, run_id: str) -> bool:
    run = urllib.parse.quote(run_id, safe="")
    tis = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run}/taskInstances")["task_instances"]
    states = {ti["task_id"]: ti["state"] for ti in tis}
    print(f"train run {run_id}: " + ", ".join(f"{t}={s}" for t, s in states.items()))
    train = xcom(api, dag_id, run_id, "train") or {}
    evaluation = xcom(api, dag_id, run_id, "evaluate") or {}
    if train:
        print(f"model: {train.get('model_dir')}")
    if evaluation:
        print(
            f"evaluated on spans {', '.join(evaluation.get('spans', []))}; "
            f"baseline: {evaluation.get('baseline') or 'none (nothing served yet)'}"
        )
        print(evaluation_report(Path(evaluation["evaluation_dir"])))
        reason = xcom(api, dag_id, run_id, "is_blessed", "reason")
        print(f"blessed: {evaluation.get('blessed')} ({reason})")
    push = xcom(api, dag_id, run_id, "push")
    if push:
        print(f"pushed: {push['model']} version {push['version']} -> {push['version_dir']}")
    return all(s in ("success", "skipped") for s in states.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", required=True)
    parser.add_argument("--from", dest="start", required=True)
    parser.add_argument("--to", dest="end", required=True)
    parser.add_argument("--train-run-id", required=True)
    args = parser.parse_args()
    cfg, roots = load_pipeline(args.pipeline), Roots.resolve()
    print(f"--- spans ({args.pipeline}_ingest), artifacts in {roots.artifacts}")
    spans_ok = spans_table(SpanPaths(cfg, roots), span_range(cfg, args.start, args.end))
    print(f"\n--- training ({args.pipeline}_train)")
    api = Api(os.environ.get("AIRFLOW__API__BASE_URL", "http://localhost:8080"))
    train_ok = train_summary(api, f"{args.pipeline}_train", args.train_run_id)
    serving = ServingLayout.of(cfg, roots)
    live = stable_version(serving)
    print(
        f"\n--- serving: {serving.base} versions {serving.versions()}; live version: "
        f"{live if live is not None else 'none'}"
        + (f" ({serving.version_dir(live)})" if live is not None else "")
    )
    return 0 if spans_ok and train_ok else 1


if __name__ == "__main__":
    sys.exit(main())
