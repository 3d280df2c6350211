"""`infra-validate`: load + query the SavedModel in a FRESH Python process (ml.model.probe).

A fresh process proves the model loads without anything this process already imported or
built (custom objects, the TFT graph, Keras state). The verdict goes to
`M/infra_blessing.json` (next to, not inside, the SavedModel).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ml.config import PipelineConfig
from ml.errors import PipelineError
from ml.model.blessing import InfraBlessing
from ml.model.layout import resolve_model, saved_model_digest
from ml.model.train_result import TrainResult
from ml.model.window import split_files
from ml.roots import Roots

PROBE_TIMEOUT_S = 600


def _last_json_line(text: str) -> dict | None:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def infra_validate(
    cfg: PipelineConfig, roots: Roots, model: Path, *, count: int = 8, timeout_s: int = PROBE_TIMEOUT_S
) -> InfraBlessing:
    layout = resolve_model(model)
    spans = TrainResult.read(layout.train_result).spans
    files = split_files(cfg, roots, spans, "eval")
    cmd = [
        sys.executable,
        "-m",
        "ml.model.probe",
        str(layout.saved_model),
        *map(str, files),
        "--count",
        str(count),
    ]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout_s, cwd=Path(__file__).resolve().parents[2]
        )
        verdict = _last_json_line(proc.stdout) or {
            "passed": False,
            "error": f"probe exited {proc.returncode} without a verdict: {proc.stderr.strip()[-2000:]}",
        }
    except subprocess.TimeoutExpired:
        verdict = {"passed": False, "error": f"probe did not finish within {timeout_s}s"}
    record = InfraBlessing(
        **verdict,
        saved_model=str(layout.saved_model),
        saved_model_digest=saved_model_digest(layout.saved_model),
        probe_examples_from=[str(f) for f in files],
    )
    record.write(layout.infra_blessing)
    if not record.passed:
        raise PipelineError(
            f"infra validation failed for {layout.saved_model}: "
            f"{record.error} (recorded in {layout.infra_blessing})",
            file=str(layout.saved_model),
            rule="infra-validation",
        )
    return record
