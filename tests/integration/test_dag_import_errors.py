"""A broken pipeline folder is an Airflow DAG import error with the config message, and the other
pipelines' DAGs keep loading: parsed by the real DagBag and synced to a real Airflow DB the way
the dag-processor does (`airflow dags reserialize` -> update_dag_parsing_results_in_db)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FLIGHTS = ROOT / "ml" / "pipelines" / "flights"
ERRORS_FILE = "ml_pipeline_errors.py"

REPORT = """
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={dags!r})
print(json.dumps({{"dags": sorted(bag.dags), "errors": bag.import_errors}}))
"""

DB_STATE = """
import json
from sqlalchemy import select
from airflow.models.dag import DagModel
from airflow.models.errors import ParseImportError
from airflow.utils.session import create_session
with create_session() as s:
    dags = {d.dag_id: [d.is_stale, d.has_import_errors] for d in s.scalars(select(DagModel))}
    errors = {e.filename: e.stacktrace for e in s.scalars(select(ParseImportError))}
print(json.dumps({"dags": dags, "errors": errors}))
"""


def _copy_pipeline(target: Path, name: str, **changes) -> Path:
    shutil.copytree(FLIGHTS, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    path = target / name / "pipeline.yaml"
    raw = yaml.safe_load(path.read_text())
    raw.update({"name": name, "model_name": f"{name}_model", **changes})
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _break(path: Path) -> None:
    raw = yaml.safe_load(path.read_text())
    raw["features"]["carrier"] = {"typ": "string"}  # a typo: `type` missing, `typ` unknown
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


@pytest.fixture
def pipelines(tmp_path) -> Path:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    shutil.copytree(FLIGHTS, folder / "flights", ignore=shutil.ignore_patterns("__pycache__"))
    _copy_pipeline(folder, "second")
    _break(_copy_pipeline(folder, "broken"))
    return folder


def _run(code: str, env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_dagbag_shows_the_broken_pipeline_as_an_import_error_and_loads_the_others(pipelines):
    env = {**os.environ, "ML_PIPELINES_DIR": str(pipelines)}
    report = _run(REPORT.format(dags=str(ROOT / "dags")), env)
    kinds = ("ingest", "monitor", "train")
    assert report["dags"] == sorted(f"{p}_{k}" for p in ("flights", "second") for k in kinds)
    (path, message), *others = report["errors"].items()
    assert others == [] and path.endswith(ERRORS_FILE)
    assert "1 pipeline(s)" in message and "- broken: " in message
    assert str(pipelines / "broken" / "pipeline.yaml") in message  # the file ...
    assert "features.carrier" in message and "typ" in message  # ... the key and what is wrong


def test_airflow_db_keeps_the_other_pipelines_dags_active(pipelines, tmp_path):
    home = tmp_path / "airflow-home"
    env = {
        **os.environ,
        "ML_PIPELINES_DIR": str(pipelines),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
    }
    airflow = [sys.executable, "-m", "airflow"]
    subprocess.run([*airflow, "db", "migrate"], env=env, check=True, capture_output=True, cwd=ROOT)
    broken = pipelines / "broken" / "pipeline.yaml"
    good = broken.with_suffix(".good")
    _copy_pipeline(tmp_path, "broken")
    shutil.copy(tmp_path / "broken" / "pipeline.yaml", good)

    def sync() -> dict:
        subprocess.run([*airflow, "dags", "reserialize"], env=env, check=True, capture_output=True, cwd=ROOT)
        return _run(DB_STATE, env)

    shutil.copy(good, broken)  # first every pipeline loads ...
    state = sync()
    assert state["errors"] == {} and len(state["dags"]) == 9
    _break(broken)  # ... then one folder breaks
    state = sync()
    assert [Path(f).name for f in state["errors"]] == [ERRORS_FILE]
    assert "- broken: " in next(iter(state["errors"].values()))
    for dag_id in ("flights_ingest", "flights_train", "second_ingest", "second_train"):
        assert state["dags"][dag_id] == [False, False], dag_id  # active, no import error
