"""The train step as every runner sees it: its argv, its outcome file and how a run ends.

Shared by the local runner (`ml_airflow.train`) and the container runner
(`ml_airflow.docker_train`). Both run `python -m ml train ... --outcome F` and read the result,
or the error, from F on the artifact root (ml.artifact.StepOutcome), never from the logs: an
error there fails the task for good (bad input: a retry cannot help); no file means the process
died (killed, out of memory) and the try fails with the last log lines, to be retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from airflow.sdk.exceptions import AirflowException

from ml_airflow.operators import fail_for_good


def train_argv(
    pipeline: str, transform_dir: str, output_dir: str, epochs: int | str | None = None
) -> list[str]:
    """`ml` argv of the train command (shared by every runner), its outcome file included."""
    argv = ["train", "--pipeline", pipeline, "--transform-dir", transform_dir, "--output", output_dir]
    argv += ["--outcome", str(outcome_file(output_dir))]
    return argv + (["--epochs", str(epochs)] if epochs not in (None, "") else [])


def outcome_file(output_dir: str) -> Path:
    from ml.model.layout import train_outcome_file

    return train_outcome_file(output_dir)


def clear_outcome(output_dir: str) -> None:
    """Before a try: an outcome left by an earlier try must not be read as this one's."""
    outcome_file(output_dir).unlink(missing_ok=True)


def finish(context, output_dir: str, crashed: str, tail: Sequence[str]) -> dict[str, Any] | NoReturn:
    """The run's result from its outcome file; its error fails the task for good; no file:
    `crashed` (what ended the process) and the last log lines fail this try."""
    from ml.artifact import StepOutcome

    path = outcome_file(output_dir)
    if not path.is_file():
        raise AirflowException(
            f"{crashed} and left no outcome ({path}); last {len(tail)} log lines:\n" + "\n".join(tail)
        )
    outcome = StepOutcome.read(path)
    if outcome.ok and outcome.value is not None:
        return outcome.value
    error = outcome.error
    if error is None:
        raise AirflowException(f"{path}: the train step neither succeeded nor recorded an error")
    fail_for_good(
        context, error.message, span=error.span, file=error.file, column=error.column, rule=error.rule
    )


def parse_gpus(text: str | int | None) -> int:
    """ML_TRAIN_GPUS: 0/empty = CPU only, -1 or `all` = every GPU, N = N GPUs."""
    value = str(text if text is not None else "").strip().lower()
    return -1 if value == "all" else int(value or 0)
