"""The production docker-compose.yml: validated by the compose CLI (`docker compose config`, or
docker-compose 1.29) when one is installed, else parsed and interpolated here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ALLOWED_PORTS = {8080, 8511}  # the UI and TF Serving's REST API through the prediction-logger
REQUIRED_SECRETS = (
    "POSTGRES_PASSWORD",
    "REDIS_PASSWORD",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_SECRET_KEY",
    "AIRFLOW_ADMIN_PASSWORD",
)
SECRET_KEY = re.compile(r"(PASSWORD|SECRET|SECRET_KEY|FERNET_KEY|TOKEN)$", re.IGNORECASE)
VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def compose_cli() -> list[str] | None:
    """`docker compose` (v2 plugin) or `docker-compose` (v1), whichever works here."""
    candidates = [["docker", "compose"]] if shutil.which("docker") else []
    candidates += [["docker-compose"]] if shutil.which("docker-compose") else []
    for cmd in candidates:
        if subprocess.run([*cmd, "version"], capture_output=True).returncode == 0:
            return cmd
    return None


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose-style ${VAR}, ${VAR:-default}, ${VAR:?error} and $$ (fallback without a CLI)."""

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":  # an escaped `$`, e.g. `$${HOSTNAME}`: no variable
            return "$"
        name, op, arg = m.group(1), m.group(2), m.group(3)
        value = env.get(name, "")
        if op and op.endswith("?") and not value:
            raise ValueError(f"required variable {name} is missing a value: {arg}")
        return value or (arg if op and op.endswith("-") else "")

    return re.sub(rf"\$\$|{VAR.pattern}", sub, text)


@pytest.fixture(scope="module")
def compose_env(tmp_path_factory) -> dict[str, str]:
    env = {name: f"test-{name.lower()}-value" for name in REQUIRED_SECRETS}
    env["ML_HOST_ROOT"] = str(tmp_path_factory.mktemp("ml-host-root"))
    return env


def render(env: dict[str, str]) -> subprocess.CompletedProcess | dict:
    """The resolved compose model: CLI output (CompletedProcess) or the fallback's dict."""
    cli = compose_cli()
    if cli is None:
        return yaml.safe_load(interpolate(COMPOSE.read_text(), env))
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in REQUIRED_SECRETS and not k.startswith(("ML_", "AIRFLOW_", "COMPOSE_"))
    }
    return subprocess.run(
        [*cli, "-f", str(COMPOSE), "--project-directory", str(ROOT), "config"],
        capture_output=True,
        text=True,
        env={**clean, **env},
    )


@pytest.fixture(scope="module")
def config(compose_env) -> dict:
    out = render(compose_env)
    if isinstance(out, dict):
        return out
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def airflow_services(config: dict) -> dict[str, dict]:
    return {n: s for n, s in config["services"].items() if n.startswith("airflow-")}


def ports(service: dict) -> list[tuple[str, int]]:
    """(host ip, published port) of every published port, short or long syntax."""
    out = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            out.append((port.get("host_ip", ""), int(port["published"])))
        else:
            parts = str(port).split("/")[0].split(":")
            out.append((parts[0] if len(parts) == 3 else "", int(parts[-2])))
    return out


def volumes(service: dict) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) of every volume, short or long syntax."""
    out = []
    for vol in service.get("volumes", []):
        if isinstance(vol, dict):
            out.append((vol.get("source", ""), vol["target"], bool(vol.get("read_only"))))
        else:
            src, dst, *mode = str(vol).split(":")
            out.append((src, dst, "ro" in (mode[0].split(",") if mode else [])))
    return out


def test_compose_config_is_valid_and_has_the_stack(config):
    services = set(config["services"])
    assert {
        "postgres",
        "redis",
        "docker-socket-proxy",
        "tf-serving",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
        "airflow-init",
    } <= services
    worker = config["services"]["airflow-worker"]
    assert worker["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert "container_name" not in worker  # scalable with --scale airflow-worker=N


@pytest.mark.skipif(compose_cli() is None, reason="no docker compose / docker-compose CLI here")
def test_missing_secret_is_refused(compose_env):
    env = {k: v for k, v in compose_env.items() if k != "POSTGRES_PASSWORD"}
    out = render(env)
    assert out.returncode != 0
    assert "POSTGRES_PASSWORD" in out.stderr


def test_only_ui_and_prediction_logger_ports_published_on_localhost(config):
    published = {name: ports(s) for name, s in config["services"].items() if ports(s)}
    assert {p for ps in published.values() for _, p in ps} == ALLOWED_PORTS, published
    assert all(ip == "127.0.0.1" for ps in published.values() for ip, _ in ps), published
    assert {p for _, p in published["airflow-apiserver"]} == {8080}
    assert {p for _, p in published["prediction-logger"]} == {8511}
    assert "tf-serving" not in published  # REST 8501 and gRPC 8500: never from the host


def networks_of(service: dict) -> set[str]:
    listed = service.get("networks") or ["default"]
    return set(listed) if isinstance(listed, list | dict) else {"default"}


def test_tf_serving_is_reachable_only_through_the_logger_and_by_the_workers(config):
    """Clients cannot skip the prediction log: TF Serving is only on an internal network shared
    with the logger and the workers (push, serving-status and the smoke test need it)."""
    services = config["services"]
    assert networks_of(services["tf-serving"]) == {"serving"}
    assert config["networks"]["serving"]["internal"] is True
    on_serving = {name for name, s in services.items() if "serving" in networks_of(s)}
    assert on_serving == {"tf-serving", "prediction-logger", "airflow-worker"}
    logger = (
        " ".join(map(str, services["prediction-logger"]["command"]))
        if isinstance(services["prediction-logger"]["command"], list)
        else services["prediction-logger"]["command"]
    )
    assert "--upstream http://tf-serving:8501" in logger and "--fsync" in logger


def test_no_plaintext_secrets(raw):
    """Secret-looking settings and credentials in URLs come only from required ${VAR:?...}."""
    text = COMPOSE.read_text()
    for name in REQUIRED_SECRETS:
        assert re.search(rf"\$\{{{name}:\?", text), f"{name} must be a required variable"
        assert not re.search(rf"\$\{{{name}:?-", text), f"{name} must have no default"
    for sname, service in raw["services"].items():
        env = service.get("environment") or {}
        for key, value in env.items():
            value = str(value)
            if SECRET_KEY.search(key):
                assert VAR.fullmatch(value) or value.startswith("${"), (sname, key, value)
            cred = re.search(r"://[^/@\s]*:([^@/\s]+)@", value)
            if cred:
                assert cred.group(1).startswith("${"), (sname, key, value)
    example = (ROOT / ".env.example").read_text()
    for name in REQUIRED_SECRETS:
        assert re.search(rf"^{name}=$", example, re.MULTILINE), f".env.example sets {name}"


def test_airflow_services_share_image_and_environment(config, raw):
    services = airflow_services(config)
    assert len({s["image"] for s in services.values()}) == 1
    assert all(
        s.get("build", {}).get("dockerfile", "").endswith("docker/airflow.Dockerfile")
        for s in services.values()
    )
    common = raw["x-airflow-common"]["environment"]
    for name, service in services.items():
        env = service["environment"]
        assert set(common) <= set(env), (name, set(common) - set(env))
    for key in common:
        assert len({str(s["environment"][key]) for s in services.values()}) == 1, key


def test_docker_access_only_through_the_socket_proxy(config):
    mounts_sock = [
        n
        for n, s in config["services"].items()
        if any(dst.endswith("docker.sock") for _, dst, _ in volumes(s))
    ]
    assert mounts_sock == ["docker-socket-proxy"]
    proxy = config["services"]["docker-socket-proxy"]
    assert all(ro for _, dst, ro in volumes(proxy) if dst.endswith("docker.sock"))
    assert str(proxy["environment"].get("EXEC", "0")) == "0"
    assert str(proxy["environment"].get("BUILD", "0")) == "0"
    worker = config["services"]["airflow-worker"]
    assert worker["environment"]["DOCKER_HOST"] == "tcp://docker-socket-proxy:2375"
    assert "ports" not in proxy


def test_tf_serving_mounts_the_serving_root_push_writes_read_only(config, compose_env, flights_cfg):
    from ml.roots import Roots
    from ml.serving.layout import ServingLayout
    from ml.serving.push import TF_SERVING_ROOT_ENV

    worker = config["services"]["airflow-worker"]
    env = worker["environment"]
    serving_root = env["ML_SERVING_ROOT"]
    assert serving_root == f"{compose_env['ML_HOST_ROOT']}/serving"
    assert (serving_root, serving_root, False) in volumes(worker)  # same path, writable
    assert env["ML_SERVING_URL"] == "http://tf-serving:8501"  # push verifies the live server
    # what push writes: <serving root>/models.config with base paths under this root
    layout = ServingLayout.of(flights_cfg, Roots.resolve(serving=serving_root))
    base_root = env.get(TF_SERVING_ROOT_ENV) or serving_root
    serving = config["services"]["tf-serving"]
    assert (base_root, base_root, True) in volumes(serving)  # same path, read-only
    args = [*serving.get("entrypoint", []), *serving["command"]]
    assert f"--model_config_file={layout.models_config}" in args
    assert "--model_config_file_poll_wait_seconds=30" in args
    assert "--allow_version_labels_for_unavailable_models=true" in args  # labelled config at start


def test_artifact_root_has_the_same_path_for_workers_and_trainer_containers(config):
    for name, service in airflow_services(config).items():
        env = service["environment"]
        for key in ("ML_DATA_ROOT", "ML_ARTIFACT_ROOT", "ML_SERVING_ROOT"):
            assert (env[key], env[key], False) in volumes(service), (name, key)


def test_the_worker_scales_out(config):
    """`--scale airflow-worker=N` (the compose e2e runs 2): nothing pins the worker to one
    container, and what the workers share is shared: the roots are host folders at one path (test
    above), the results store and the metadata DB are server databases, the broker is Redis."""
    worker = config["services"]["airflow-worker"]
    assert not {"container_name", "hostname", "ports"} & set(worker)  # name, Celery node, host port
    health = " ".join(worker["healthcheck"]["test"])
    assert re.search(r"celery@\$+\{?HOSTNAME", health), health  # each container's own node
    env = worker["environment"]
    assert env["ML_RESULTS_DB"].startswith("postgresql")  # never a per-host SQLite file
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")


def test_every_long_running_service_has_a_healthcheck(config):
    for name, service in config["services"].items():
        if str(service.get("restart", "")) == "no":  # one-shot (airflow-init)
            continue
        assert service.get("healthcheck", {}).get("test"), name


def pins(path: Path) -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", path.read_text(), re.MULTILINE)
    return {name.lower().replace("_", "-"): version for name, version in found}


@pytest.mark.parametrize("sublock", ["docker/airflow-requirements.txt", "docker/trainer-requirements.txt"])
def test_image_locks_pin_the_main_lock_versions(sublock):
    main, sub = pins(ROOT / "requirements.txt"), pins(ROOT / sublock)
    shared = set(main) & set(sub)
    assert {"tensorflow", "tensorflow-transform", "tf-keras"} <= shared
    assert {k: (main[k], sub[k]) for k in shared if main[k] != sub[k]} == {}, (
        f"{sublock} is stale: run `make docker-locks`"
    )


def test_the_e2e_override_only_tunes_the_scheduler():
    """`make compose-e2e` runs this same file: its override (docker/compose-e2e.yml) changes
    scheduler settings only, never an image, port, volume, command or secret."""
    override = yaml.safe_load((ROOT / "docker" / "compose-e2e.yml").read_text())
    assert set(override) == {"services"} and set(override["services"]) == {"airflow-scheduler"}
    scheduler = override["services"]["airflow-scheduler"]
    assert set(scheduler) == {"environment"}
    assert set(scheduler["environment"]) == {
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL",
    }


def test_airflow_init_creates_the_pool_the_push_task_uses(raw):
    pool = re.search(r'^PUSH_POOL = "(\w+)"', (ROOT / "dags" / "ml_pipelines.py").read_text(), re.M)
    assert pool, "dags/ml_pipelines.py defines PUSH_POOL"
    script = "\n".join(raw["services"]["airflow-init"]["command"])
    assert f"airflow pools set {pool.group(1)} " in script


@pytest.mark.parametrize(
    "dockerfile",
    sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docker").rglob("*.Dockerfile")),
)
def test_dockerfiles_default_to_official_images(dockerfile):
    """The local stand-ins are build arguments; a user with a registry gets the real images."""
    base = re.search(r"^ARG (\w+)=(\S+)\s*\nFROM \$\{\1\}", (ROOT / dockerfile).read_text(), re.M)
    assert base, f"{dockerfile}: FROM ${{ARG}} with a default"
    assert not base.group(2).startswith(("local/", "ml-trainer")), base.group(2)
