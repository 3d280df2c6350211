"""Training in a container: TrainerDockerOperator on a real Docker daemon with the trainer image.

Needs a reachable daemon and the trainer image for the current code (`make trainer-image`);
otherwise these tests skip, or fail when ML_REQUIRE_DOCKER=1 (CI's .ci/run sets it).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from ml.roots import Roots
from ml_airflow.docker_train import TrainerDockerOperator, gpu_device_requests

from conftest import XComRecorder, cli

ROOT = Path(__file__).resolve().parents[2]
SPANS = ("2013-01-01", "2013-01-02")
AFTER_TRAIN = r"evaluate|is_blessed|infra_validate|push"  # marked success by dag.test()


def skip_or_fail(reason: str):
    if os.environ.get("ML_REQUIRE_DOCKER") == "1":
        pytest.fail(f"{reason} (ML_REQUIRE_DOCKER=1: Docker tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def docker_client():
    import docker

    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except Exception as exc:  # no daemon / no socket / refused: skip with the reason
        skip_or_fail(f"no reachable Docker daemon ({exc})")
    yield client
    client.close()


@pytest.fixture(scope="module")
def trainer_image(docker_client) -> str:
    """The trainer image built from this checkout (its tag hashes the lock, Dockerfile, ml/)."""
    tag = subprocess.run(
        [str(ROOT / "docker/build-trainer-image.sh"), "--print-tag"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not docker_client.images.list(name=tag):
        skip_or_fail(
            f"trainer image {tag} for this checkout is missing: run `make base-image && "
            "make trainer-image BASE_IMAGE=local/python:3.11-bookworm`"
        )
    return tag


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, landed_data_root) -> Roots:
    """Two ingested spans in a private artifact root."""
    base = tmp_path_factory.mktemp("docker-train")
    shutil.copytree(landed_data_root, base / "data")
    roots = Roots.resolve(base / "data", base / "artifacts", base / "serving")
    for span in SPANS:
        cli(roots, "ingest", "--span", span)
    return roots


def train_dag(monkeypatch, roots: Roots, image: str, gpus: str = "0"):
    """The real `flights_train` DAG, built with the docker runner selected by the environment."""
    for key, value in {
        "ML_TRAIN_RUNNER": "docker",
        "ML_TRAIN_GPUS": gpus,
        "ML_TRAIN_IMAGE": image,
        "ML_DATA_ROOT": str(roots.data),
        "ML_ARTIFACT_ROOT": str(roots.artifacts),
        "ML_SERVING_ROOT": str(roots.serving),
    }.items():
        monkeypatch.setenv(key, value)
    spec = importlib.util.spec_from_file_location("ml_pipelines_docker", ROOT / "dags/ml_pipelines.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.flights_train


def xcom_value(dag_run, task_id: str):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key="return_value")
            .one()
        )
        return XComModel.deserialize_value(row)


@pytest.mark.docker
@pytest.mark.slow
def test_train_task_runs_in_the_trainer_container(
    airflow_db, ingested, trainer_image, monkeypatch, docker_client
):
    dag = train_dag(monkeypatch, ingested, trainer_image)
    assert type(dag.get_task("train")) is TrainerDockerOperator
    assert dag.get_task("train").device_requests is None  # ML_TRAIN_GPUS=0: no GPU request

    run = dag.test(run_conf={"span": SPANS[-1], "window": 2, "epochs": 1}, mark_success_pattern=AFTER_TRAIN)

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["transform"] == "success" and states["train"] == "success", states
    result = xcom_value(run, "train")
    model_dir = Path(result["model_dir"])
    # the container wrote the model into the host's artifact root, at the path it reported
    assert model_dir.is_relative_to(ingested.artifacts) and model_dir.is_dir()
    assert (model_dir / "saved_model" / "saved_model.pb").is_file()
    assert model_dir.stat().st_uid == os.getuid()  # ran as the host user
    assert result["command"] == "train" and result["device"].startswith("CPU")
    metrics = result["eval_metrics"]
    assert metrics and all(isinstance(v, (int, float)) for v in metrics.values()), metrics
    written = json.loads((model_dir / "train_result.json").read_text())
    assert written["eval_metrics"] == metrics and written["epochs"] == 1
    # auto_remove="success": no trainer container is left behind
    assert docker_client.containers.list(all=True, filters={"label": "ml.trainer=1"}) == []


def trainer_operator(artifacts: Path, image: str, **kwargs) -> TrainerDockerOperator:
    return TrainerDockerOperator(
        task_id="train",
        pipeline="flights",
        image=image,
        artifact_root=artifacts,
        transform_dir=str(artifacts / "flights/transforms/none"),
        output_dir=str(artifacts / "flights/models/none"),
        **kwargs,
    )


@pytest.mark.docker
def test_gpu_request_without_gpu_runtime_fails_clearly(tmp_path, trainer_image, docker_client):
    if "nvidia" in docker_client.info().get("Runtimes", {}):
        pytest.skip("this Docker host has the NVIDIA runtime: a GPU request would succeed")
    op = trainer_operator(tmp_path, trainer_image, gpus=-1)
    assert op.device_requests[0]["Count"] == -1
    with pytest.raises(AirflowFailException, match="ML_TRAIN_GPUS=-1 requests GPUs") as err:
        op.execute({})
    assert "ML_TRAIN_GPUS=0" in str(err.value) and "NVIDIA container toolkit" in str(err.value)


@pytest.mark.docker
def test_failing_container_reports_exit_code_and_last_log_lines(tmp_path, trainer_image):
    op = trainer_operator(
        tmp_path,
        trainer_image,
        entrypoint=[
            "python",
            "-c",
            "import sys; print('loading data'); print('boom: disk full'); sys.exit(3)",
        ],
    )
    with pytest.raises(AirflowException, match="exited with code 3") as err:
        op.execute({})
    assert "boom: disk full" in str(err.value) and "loading data" in str(err.value)


@pytest.mark.docker
def test_a_pipeline_error_in_the_container_fails_the_task_for_good_from_its_outcome(tmp_path, trainer_image):
    """No transform output: `ml train` in the container records a MissingArtifact in its
    outcome file on the mount; the task fails without retries, with that rule and file."""
    ti = XComRecorder()
    with pytest.raises(AirflowFailException, match="is not a transform output"):
        trainer_operator(tmp_path, trainer_image).execute({"ti": ti})
    assert ti.pushed["ml_error"]["rule"] == "transform-exists"
    assert ti.pushed["ml_error"]["file"] == str(tmp_path / "flights/transforms/none")


@pytest.mark.docker
def test_missing_image_names_the_make_target(tmp_path, docker_client):
    op = trainer_operator(tmp_path, "ml-trainer:no-such-tag")
    with pytest.raises(AirflowFailException, match="make trainer-image"):
        op.execute({})


def test_paths_outside_the_artifact_root_are_refused(tmp_path):
    op = TrainerDockerOperator(
        task_id="train",
        pipeline="flights",
        artifact_root=tmp_path / "a",
        transform_dir=str(tmp_path / "elsewhere"),
        output_dir=str(tmp_path / "a/m"),
    )
    with pytest.raises(AirflowFailException, match="not under the artifact root"):
        op.execute({})


def test_unreachable_daemon_says_how_to_start_it(tmp_path):
    op = trainer_operator(tmp_path, "ml-trainer:latest", docker_url=f"unix://{tmp_path / 'no-docker.sock'}")
    with pytest.raises(AirflowException, match="cannot reach the Docker daemon") as err:
        op.execute({})
    assert "DOCKER_HOST" in str(err.value) and "ML_TRAIN_RUNNER=local" in str(err.value)


@pytest.mark.parametrize(("gpus", "count"), [(0, None), ("0", None), (-1, -1), ("all", -1), (2, 2)])
def test_gpu_device_requests(gpus, count):
    requests = gpu_device_requests(gpus)
    assert [r["Count"] for r in requests] == ([] if count is None else [count])
    assert all(r["Capabilities"] == [["gpu"]] for r in requests)
