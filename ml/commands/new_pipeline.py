"""`new-pipeline NAME --from-csv FILE --timestamp-column C --label-column T --cadence K`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ml.cadence import CADENCES
from ml.roots import Roots
from ml.scaffold.timestamps import UNITS

NAME = "new-pipeline"
HELP = (
    "scaffold ml/pipelines/NAME/ (pipeline.yaml with inferred types and ranges, module.py, a curated "
    "schema.pbtxt) from a CSV, and split the CSV into landing spans by its timestamp column"
)
PIPELINE = False  # creates the pipeline: no --pipeline to load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the new pipeline's folder name under ml/pipelines/")
    parser.add_argument("--from-csv", type=Path, required=True, help="the CSV file")
    parser.add_argument("--timestamp-column", required=True, help="the column that places a row in a span")
    parser.add_argument(
        "--label-column",
        required=True,
        help="the target: a number (the label is it above its median) or text (the label is it being "
        "one of --positive's values; with two values, the rarer one by default); in module.py's label_fn",
    )
    parser.add_argument(
        "--positive",
        type=lambda text: [v.strip() for v in text.split(",") if v.strip()],
        help="a text label column's values that count as 1, comma-separated (e.g. rain,drizzle,snow)",
    )
    parser.add_argument(
        "--serving-log",
        action="store_true",
        help="also write each span's serving requests (key + features, no label) to "
        "<data_root>/NAME_serving/span=<id>/requests.csv, for serve-span and the monitor",
    )
    parser.add_argument("--cadence", required=True, choices=list(CADENCES), help="span cadence")
    parser.add_argument(
        "--timestamp-unit",
        choices=UNITS,
        help="the unit of an epoch-number timestamp column (default: from the magnitude)",
    )


def run(args: argparse.Namespace, cfg: None, roots: Roots) -> dict:
    from ml.scaffold.pipeline import write_pipeline

    written = write_pipeline(
        args.name,
        args.from_csv,
        timestamp=args.timestamp_column,
        target=args.label_column,
        cadence=args.cadence,
        roots=roots,
        timestamp_unit=args.timestamp_unit,
        positive=args.positive,
        serving_log=args.serving_log,
    )
    return {"command": NAME, **written}


def summary(result: dict[str, Any]) -> str:
    """The one-line summary of this command's result (task log, stderr)."""
    spans = len(result.get("spans") or [])
    line = f"pipeline {result.get('pipeline')}: {result.get('rows', '?')} rows in {spans}"
    line += f" {result.get('cadence', '')} spans; label {result.get('label', '?')}"
    line += f"; {len(result.get('features') or [])} features"
    left = result.get("left_out") or {}
    return line + (f"; left out as features: {', '.join(sorted(left))}" if left else "")
