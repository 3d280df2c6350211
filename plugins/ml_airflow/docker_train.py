"""The train task in a container: `python -m ml train ...` through Airflow's DockerOperator.

The trainer image (`make trainer-image`, entrypoint `python -m ml train`) gets the artifact root
bind-mounted at the SAME path as on the Docker host, so the transform/model paths in the command
and in XCom are valid on both sides. The container runs as the worker's uid:gid (files in the
mount belong to that user), without network, and is removed once finished. Its output is
streamed into the task log; its result (model_dir, metrics, ...) or its error is read from the
outcome file it leaves in the mount (ml_airflow.train_command), never from the log lines.
GPUs: `gpus` 0 = none, -1 = all, N = N (a Docker DeviceRequest; needs the NVIDIA toolkit).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.providers.docker.exceptions import DockerContainerFailedException
from airflow.providers.docker.operators.docker import DockerOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from docker.errors import APIError
from docker.types import DeviceRequest, Mount

from ml.roots import Roots
from ml_airflow.train_command import clear_outcome, finish, parse_gpus, train_argv

DEFAULT_IMAGE = "ml-trainer:latest"
LOG_TAIL_LINES = 30
NO_GPU_RUNTIME = re.compile(
    r"could not select device driver|nvidia-container-cli|"
    r"unknown or invalid runtime name: nvidia",
    re.IGNORECASE,
)


def gpu_device_requests(gpus: int | str | None) -> list[DeviceRequest]:
    """Docker device requests for `gpus`: none for 0, all GPUs for -1 (or "all"), else N."""
    count = parse_gpus(gpus)
    if count == 0:
        return []
    return [DeviceRequest(count=-1 if count < 0 else count, capabilities=[["gpu"]])]


def exited(exc: DockerContainerFailedException) -> str:
    """`exited with code 3`, from the provider's message (it keeps the status only there)."""
    match = re.search(r"'StatusCode': (-?\d+)", str(exc))
    return f"exited with code {match.group(1)}" if match else f"failed ({exc})"


def _inside(path: str, root: Path) -> bool:
    return Path(path).resolve().is_relative_to(root)


class TrainerDockerOperator(DockerOperator):
    """Runs the trainer image on `transform_dir`, writing the model to `output_dir`.

    Both paths are templated and must lie under the artifact root (`artifact_root`, default
    ML_ARTIFACT_ROOT), the only host folder mounted into the container. `image` defaults to
    ML_TRAIN_IMAGE or ml-trainer:latest; the image must exist on the Docker host unless `pull`
    (default: env ML_TRAIN_PULL=1) lets a missing image be pulled from its registry. Other
    DockerOperator arguments (docker_url, cpus, mem_limit, ...) pass through.
    """

    template_fields: Sequence[str] = (
        *DockerOperator.template_fields,
        "pipeline",
        "transform_dir",
        "output_dir",
        "epochs",
    )
    ui_color = "#d1c4e9"

    def __init__(
        self,
        *,
        pipeline: str,
        transform_dir: str,
        output_dir: str,
        epochs: int | str | None = None,
        gpus: int | str | None = 0,
        image: str | None = None,
        artifact_root: str | os.PathLike | None = None,
        pull: bool | None = None,
        **kwargs,
    ) -> None:
        root = Roots.resolve(artifacts=artifact_root).artifacts
        devices = gpu_device_requests(gpus)
        no_gpu = {} if devices else {"CUDA_VISIBLE_DEVICES": ""}
        kwargs.setdefault("network_mode", "none")  # training needs no network
        kwargs.update(do_xcom_push=True, xcom_all=False)  # the XCom: the outcome's result
        super().__init__(
            image=image or os.environ.get("ML_TRAIN_IMAGE") or DEFAULT_IMAGE,
            command=None,
            mounts=[Mount(target=str(root), source=str(root), type="bind")],
            environment={"ML_ARTIFACT_ROOT": str(root), **no_gpu, **kwargs.pop("environment", {})},
            device_requests=devices or None,
            mount_tmp_dir=False,
            auto_remove="success",
            **kwargs,
        )
        self.pipeline, self.transform_dir, self.output_dir = pipeline, transform_dir, output_dir
        self.epochs, self.gpus = epochs, gpus
        self.pull = pull if pull is not None else os.environ.get("ML_TRAIN_PULL") == "1"
        self.artifact_root = root

    # ---- execute
    # The XCom is the outcome file's result, not DockerOperator's log lines.
    def execute(self, context) -> dict[str, Any]:  # type: ignore[override]
        for name in ("transform_dir", "output_dir"):
            if not _inside(getattr(self, name), self.artifact_root):
                raise AirflowFailException(
                    f"{name}={getattr(self, name)} is not under the artifact root "
                    f"{self.artifact_root}, the only folder mounted into the trainer container"
                )
        argv = train_argv(self.pipeline, self.transform_dir, self.output_dir, self.epochs)
        # the image's entrypoint is `ml train`: the arguments after `train`
        self.command = [*argv[1:], "--artifact-root", str(self.artifact_root)]
        self.user = self.user or f"{os.getuid()}:{os.getgid()}"
        self.labels = {"ml.trainer": "1", "airflow.dag_id": self.dag_id, "airflow.task_id": self.task_id}
        self._require_daemon()
        self._require_image()
        clear_outcome(self.output_dir)
        try:
            super().execute(context)
        except DockerContainerFailedException as exc:
            tail = [str(line).rstrip() for line in (exc.logs or [])][-LOG_TAIL_LINES:]
            finish(context, self.output_dir, f"trainer container ({self.image}) {exited(exc)}", tail)
        except APIError as exc:
            if NO_GPU_RUNTIME.search(str(exc)):
                raise AirflowFailException(
                    f"ML_TRAIN_GPUS={self.gpus} requests GPUs, but the Docker host at "
                    f"{self.docker_url} has no GPU runtime ({exc.explanation or exc}). Set "
                    "ML_TRAIN_GPUS=0 to train on CPU, or install the NVIDIA container toolkit "
                    "on the Docker host (and use a GPU trainer image)."
                ) from None
            raise
        return finish(context, self.output_dir, f"trainer container ({self.image}) exited with code 0", [])

    def _require_daemon(self) -> None:
        try:
            self.cli.ping()
        except Exception as exc:  # docker-py/requests raise many kinds of connection errors
            raise AirflowException(
                f"cannot reach the Docker daemon at {self.docker_url}: {exc}. Start it "
                "(`sudo systemctl start docker`, or `dockerd &` as root), or point DOCKER_HOST "
                "at a reachable daemon (compose stack: tcp://docker-socket-proxy:2375); "
                "ML_TRAIN_RUNNER=local trains without Docker."
            ) from None

    def _require_image(self) -> None:
        if self.cli.images(name=self.image):
            return
        hint = (
            "build it on the Docker host with `make trainer-image` (no registry reachable: "
            "`make base-image && make trainer-image BASE_IMAGE=local/python:3.11-bookworm`)"
            ", or point ML_TRAIN_IMAGE at an existing image"
        )
        if not self.pull:
            raise AirflowFailException(
                f"trainer image {self.image} not found on the Docker host {self.docker_url}: {hint}"
            )
        try:
            self.cli.pull(self.image)
        except APIError as exc:
            raise AirflowFailException(
                f"trainer image {self.image} not found and pulling it "
                f"failed ({exc.explanation or exc}): {hint}"
            ) from None
