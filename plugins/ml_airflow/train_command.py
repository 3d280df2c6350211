"""The train command as every runner sees it: its argv, its result line and its exit codes.

Shared by the local runner (`ml_airflow.train`) and the container runner
(`ml_airflow.docker_train`); imports nothing from either, so neither imports the other for it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

EXIT_PIPELINE_ERROR = 2  # ml.cli.EXIT_ERROR: a PipelineError, retrying cannot help


def train_argv(
    pipeline: str, transform_dir: str, output_dir: str, epochs: int | str | None = None
) -> list[str]:
    """`ml` argv of the train command (shared by every runner)."""
    argv = ["train", "--pipeline", pipeline, "--transform-dir", transform_dir, "--output", output_dir]
    return argv + (["--epochs", str(epochs)] if epochs not in (None, "") else [])


def final_json(lines: Sequence[str]) -> dict[str, Any] | None:
    """The last line that is a JSON object (the `ml` CLI's result line); NaN/inf -> None, as
    XCom stores strict JSON only."""
    for line in reversed(lines):
        text = line.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text, parse_constant=lambda _: None)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None


def parse_gpus(text: str | int | None) -> int:
    """ML_TRAIN_GPUS: 0/empty = CPU only, -1 or `all` = every GPU, N = N GPUs."""
    value = str(text if text is not None else "").strip().lower()
    return -1 if value == "all" else int(value or 0)
