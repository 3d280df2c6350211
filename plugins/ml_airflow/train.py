"""The train step: `python -m ml train ...` in its own process, locally or in a container.

`train_operator()` picks the runner from the environment of the process that parses the DAGs:
`ML_TRAIN_RUNNER=local|docker` (default local) and `ML_TRAIN_GPUS` (0 = CPU only, -1/all = all
GPUs, N = N GPUs). Both runners execute the same command and read its result (-> XCom) or its
error from the outcome file it leaves on the artifact root (ml_airflow.train_command).
"""

from __future__ import annotations

import collections
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from ml.roots import PROJECT_ROOT
from ml_airflow.links import FAILURE_LINK, REPORTS_XCOM
from ml_airflow.train_command import clear_outcome, finish, parse_gpus, train_argv

if TYPE_CHECKING:
    from ml_airflow.docker_train import TrainerDockerOperator

TRAIN_RUNNERS = ("local", "docker")


def gpu_env(gpus: int) -> dict[str, str]:
    """CUDA_VISIBLE_DEVICES for a local run: hide GPUs for 0; the first N for N > 0 unless the
    variable is already set; untouched for -1 (all)."""
    if gpus == 0:
        return {"CUDA_VISIBLE_DEVICES": ""}
    if gpus < 0 or "CUDA_VISIBLE_DEVICES" in os.environ:
        return {}
    return {"CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in range(gpus))}


class LocalTrainOperator(BaseOperator):
    """Runs `python -m ml train ...` as a subprocess, streaming its output into the task log."""

    template_fields: Sequence[str] = ("pipeline", "transform_dir", "output_dir", "epochs")
    operator_extra_links = (FAILURE_LINK,)
    ui_color = "#ede7f6"

    def __init__(
        self,
        *,
        pipeline: str,
        transform_dir: str,
        output_dir: str,
        epochs: int | str | None = None,
        gpus: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.pipeline, self.transform_dir, self.output_dir = pipeline, transform_dir, output_dir
        self.epochs, self.gpus = epochs, gpus
        self._proc: subprocess.Popen | None = None

    def execute(self, context) -> dict[str, Any]:
        cmd = [
            sys.executable,
            "-m",
            "ml",
            *train_argv(self.pipeline, self.transform_dir, self.output_dir, self.epochs),
        ]
        env = {
            **os.environ,
            **gpu_env(self.gpus),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
        }
        self.log.info("running %s", shlex.join(cmd))
        context["ti"].xcom_push(key=REPORTS_XCOM, value={})
        clear_outcome(self.output_dir)
        tail: collections.deque[str] = collections.deque(maxlen=50)
        self._proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env=env,
            cwd=PROJECT_ROOT,
        )
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self.log.info("%s", line.rstrip())
            tail.append(line)
        code = self._proc.wait()
        return finish(context, self.output_dir, f"`ml train` exited with code {code}", list(tail))

    def on_kill(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()


def train_operator(
    *,
    task_id: str,
    pipeline: str,
    transform_dir: str,
    output_dir: str,
    epochs: int | str | None = None,
    **kwargs,
) -> BaseOperator:
    """The train task for the runner chosen by ML_TRAIN_RUNNER / ML_TRAIN_GPUS (/ ML_TRAIN_IMAGE)."""
    runner = (os.environ.get("ML_TRAIN_RUNNER") or "local").strip().lower()
    gpus = parse_gpus(os.environ.get("ML_TRAIN_GPUS"))
    operator: type[LocalTrainOperator | TrainerDockerOperator]
    if runner == "docker":  # the Docker provider is imported only when it is used
        from ml_airflow.docker_train import TrainerDockerOperator as operator  # image: ML_TRAIN_IMAGE
    elif runner == "local":
        operator = LocalTrainOperator
    else:
        raise ValueError(f"ML_TRAIN_RUNNER={runner!r}: expected one of {', '.join(TRAIN_RUNNERS)}")
    return operator(
        task_id=task_id,
        pipeline=pipeline,
        transform_dir=transform_dir,
        output_dir=output_dir,
        epochs=epochs,
        gpus=gpus,
        **kwargs,
    )
