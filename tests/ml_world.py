"""A small but complete pipeline state for UI tests (the `ml_world` fixture in conftest.py).

Over a private copy of the session's landing zone: spans 2013-01-01..03 ingested and validated,
2013-01-04 corrupted so that Great Expectations fails it (validate exits with blocking
anomalies), 2013-01-05 corrupted so that ingest fails (its failure report is kept), then one
small model trained on 01-01..03, evaluated with TFMA, blessed and pushed; then the live model:
01-06 and 01-07 answered by it (`serve-span`), estimated before labels, then monitored, 01-07's
labels inverted for EWR flights (a concept shift: an alarm); 01-04's requests answered and only
estimated so far (its landing, corrupted, differs from what was served: feature skew). Every
step records into the pipeline's results store, as in production.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from ml.cli import run_command
from ml.errors import PipelineError
from ml.roots import Roots

PASSED = ("2013-01-01", "2013-01-02", "2013-01-03")
GE_FAILED = "2013-01-04"  # distance out of pipeline.yaml's range: GE blocks the span
INGEST_FAILED = "2013-01-05"  # dep_delay 'late': ingest refuses the span
RUN_ID = "2013-01-03-w3"
LIVE = ("2013-01-06", "2013-01-07")  # served and monitored after the push
SHIFTED = "2013-01-07"  # its labels inverted for origin EWR: the alarm
ESTIMATED_ONLY = GE_FAILED  # answered, estimated, no labels judged yet; served distance != landed


def _corrupt(csv_file: Path, column: str, value: str, rows: int = 50) -> None:
    with open(csv_file, newline="") as fh:
        table = list(csv.DictReader(fh))
    for row in table[:rows]:
        row[column] = value
    with open(csv_file, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)


def build(base: Path, landed_data_root: Path) -> dict:
    roots = Roots.resolve(base / "data", base / "artifacts", base / "serving")
    shutil.copytree(landed_data_root, roots.data)
    _corrupt(roots.data / "flights" / f"span={GE_FAILED}" / "flights.csv", "distance", "99999")
    _corrupt(roots.data / "flights" / f"span={INGEST_FAILED}" / "flights.csv", "dep_delay", "late", rows=1)
    flags = ["--pipeline", "flights", "--data-root", str(roots.data), "--artifact-root", str(roots.artifacts)]
    flags += ["--serving-root", str(roots.serving)]

    def cli(*args: str) -> dict:
        return run_command([*args, *flags])

    for span in (*PASSED, GE_FAILED, INGEST_FAILED):
        try:
            cli("ingest", "--span", span)
            cli("validate", "--span", span)
        except PipelineError:
            assert span in (GE_FAILED, INGEST_FAILED), f"span {span} should pass"
    xf = cli("transform", "--end-span", PASSED[-1], "--window", "3", "--run-id", RUN_ID)
    model = cli("train", "--transform-dir", xf["transform_dir"], "--epochs", "10", "--batch-size", "256")
    evaluation = cli("evaluate", "--model", model["model_dir"])
    assert evaluation["blessed"], evaluation["reason"]
    cli("infra-validate", "--model", model["model_dir"])
    pushed = cli("push", "--model", model["model_dir"], "--blessing", evaluation["blessing"])
    labels = roots.data / "flights" / f"span={SHIFTED}" / "flights.csv"
    with open(labels, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        if row["origin"] == "EWR" and row["arr_delay"]:
            row["arr_delay"] = "0" if float(row["arr_delay"]) > 15 else "60"
    with open(labels, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    cli("serve-span", "--span", ESTIMATED_ONLY)
    cli("serve-span", "--span", LIVE[0], "--to", LIVE[-1])
    for span in (ESTIMATED_ONLY, *LIVE):  # as the monitor DAG: the estimate first
        cli("monitor", "--span", span, "--stage", "estimated")
    monitored = {span: cli("monitor", "--span", span) for span in LIVE}
    return {"roots": roots, "run_id": RUN_ID, "evaluation": evaluation, "push": pushed, "monitor": monitored}
