"""The DAG factory and the thin Airflow layer, without running a pipeline (real Airflow objects)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import Asset, CronPartitionTimetable, CronTriggerTimetable
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout

from ml.config import available_pipelines, load_pipeline
from ml.errors import PipelineError
from ml_airflow.context import run_slug, run_span
from ml_airflow.links import ReportLink, report_paths, report_url
from ml_airflow.operators import ValidateOperator, jsonable
from ml_airflow.promotion import BlessingGateOperator, blessing_reason, is_blessed
from ml_airflow.retrain import RetrainTriggerOperator
from ml_airflow.sensors import SpanSensor
from ml_airflow.train import LocalTrainOperator, gpu_env, train_operator
from ml_airflow.train_command import clear_outcome, finish, outcome_file, parse_gpus, train_argv

from conftest import XComRecorder

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
HEAVY = (
    "tensorflow",
    "tensorflow_data_validation",
    "tensorflow_transform",
    "tensorflow_model_analysis",
    "apache_beam",
    "great_expectations",
    "pandas",
)


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=DAGS)


def test_dagbag_imports_every_pipeline_without_errors(dagbag):
    assert dagbag.import_errors == {}
    expected = {f"{p}_{kind}" for p in available_pipelines() for kind in ("ingest", "train", "monitor")}
    assert set(dagbag.dags) == expected and "flights_ingest" in expected


@pytest.fixture(scope="module")
def fresh_parse() -> dict:
    """A fresh interpreter (session Airflow env) parses the DAG folder and loads the plugins,
    as the dag-processor and the API server do; reports what that imported."""
    code = (
        "import json, sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "from airflow import plugins_manager as pm\n"
        f"bag = DagBag(dag_folder={str(DAGS)!r})\n"
        "apps, _ = pm.get_fastapi_plugins()\n"
        "print(json.dumps({'errors': bag.import_errors, 'dags': sorted(bag.dags),\n"
        "                  'apps': [a['url_prefix'] for a in apps],\n"
        "                  'plugin_errors': pm.get_import_errors(),\n"
        f"                  'heavy': [m for m in {HEAVY!r} if m in sys.modules],\n"
        "                  'preload': 'ml_airflow.preload' in sys.modules,\n"
        "                  'stray': [m for m in ('operators', 'links', 'sensors', 'context')\n"
        "                            if m in sys.modules]}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=os.environ, capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_parsing_the_dags_imports_no_heavy_library(fresh_parse):
    assert fresh_parse["errors"] == {} and "flights_train" in fresh_parse["dags"]
    assert fresh_parse["heavy"] == [], f"DAG parsing imported {fresh_parse['heavy']}"
    assert fresh_parse["preload"] is False  # the worker preload is for processes that fork tasks


def test_plugin_folder_loads_only_the_plugin(fresh_parse):
    """`plugins/.airflowignore` keeps ml_airflow/*.py from being imported as plugin modules."""
    assert fresh_parse["apps"] == ["/ml-artifacts"]
    assert fresh_parse["plugin_errors"] == {} and fresh_parse["stray"] == []


def test_ingest_dag_shape(dagbag):
    cfg = load_pipeline("flights")
    dag = dagbag.dags["flights_ingest"]
    assert isinstance(dag.timetable, CronPartitionTimetable)  # one asset partition per span
    assert dag.timetable.expression == "0 0 * * *"  # span.ingest_schedule "@daily"
    assert dag.timetable.key_format == cfg.span_format  # partition key = span id
    assert dag.catchup is True and dag.max_active_runs == 4
    assert dag.start_date == dt.datetime.fromisoformat(cfg.span_start).replace(tzinfo=dt.UTC)
    assert [t.task_id for t in dag.topological_sort()] == [
        "wait_for_span",
        "ingest",
        "validate",
        "trigger_retrain",
    ]
    sensor, ingest, validate = (dag.get_task(t) for t in ("wait_for_span", "ingest", "validate"))
    assert isinstance(sensor, SpanSensor) and sensor.mode == "reschedule"
    examples = Asset(name="flights_examples", uri="ml://flights/examples", group="ml")
    assert ingest.outlets == [] and validate.outlets == [examples]  # emitted only after validation
    for task in (sensor, ingest, validate):
        assert {"pipeline", "span"} <= set(task.template_fields)
        assert task.span == "{{ ml_span('flights', params.span, dag_run.partition_key, 0, dag_run) }}"
        assert task.retries == 2 and task.retry_delay == dt.timedelta(minutes=1)
    assert set(dag.params) == {"span", "retrain"}
    assert {link.name for link in validate.operator_extra_links} >= {
        "Data Docs (Great Expectations)",
        "Statistics (TFDV)",
        "Anomalies",
        "Failure report",
    }


def test_train_dag_shape(dagbag):
    dag = dagbag.dags["flights_train"]
    assert isinstance(dag.timetable, CronTriggerTimetable)
    assert dag.timetable.expression == "0 6 * * 1"  # span.train_schedule
    assert dag.catchup is False and dag.max_active_runs == 1
    order = ["transform", "train", "evaluate", "is_blessed", "infra_validate", "push"]
    assert [t.task_id for t in dag.topological_sort()] == order
    for upstream, downstream in zip(order, order[1:], strict=False):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}
    assert isinstance(dag.get_task("is_blessed"), BlessingGateOperator)
    assert dag.get_task("push").pool == "ml_serving_push"
    assert all(dag.get_task(t).pool == "default_pool" for t in order[:-1])
    assert isinstance(dag.get_task("train"), LocalTrainOperator)  # ML_TRAIN_RUNNER unset
    assert (
        dag.get_task("transform").end_span == "{{ ml_span('flights', params.span, data_interval_end, -1) }}"
    )
    assert "run_id" in dag.get_task("transform").template_fields
    assert {"transform_dir", "output_dir", "epochs"} <= set(dag.get_task("train").template_fields)
    assert {"model", "blessing"} <= set(dag.get_task("push").template_fields)
    assert set(dag.params) == {"span", "window", "epochs"}


def test_monitor_dag_estimates_before_labels_then_judges_with_them(dagbag):
    dag = dagbag.dags["flights_monitor"]
    order = ["wait_for_predictions", "estimate", "wait_for_labels", "monitor", "trigger_retrain"]
    assert [t.task_id for t in dag.topological_sort()] == order
    for upstream, downstream in zip(order, order[1:], strict=False):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}
    assert dag.get_task("wait_for_predictions").wait_for == "predictions"
    assert dag.get_task("wait_for_labels").wait_for == "labels"
    assert dag.get_task("estimate").stage == "estimated" and dag.get_task("monitor").stage == "realized"
    assert dag.get_task("estimate").command_args()[-2:] == ["--stage", "estimated"]
    assert "stage" in dag.get_task("estimate").template_fields


def test_ingest_dag_ends_with_the_retrain_trigger(dagbag):
    dag = dagbag.dags["flights_ingest"]
    trigger = dag.get_task("trigger_retrain")
    assert isinstance(trigger, RetrainTriggerOperator) and trigger.upstream_task_ids == {"validate"}
    assert trigger.trigger_dag_id == "flights_train" and trigger.max_active_tis_per_dag == 1
    assert trigger.span == "{{ ml_span('flights', params.span, dag_run.partition_key, 0, dag_run) }}"


def test_span_templates_render_through_the_dag_macros(dagbag):
    env = dagbag.dags["flights_ingest"].get_template_env()
    render = env.from_string("{{ ml_span('flights', params.span, dag_run.partition_key) }}").render
    run = types.SimpleNamespace(partition_key="2013-02-03")
    assert render(params={"span": None}, dag_run=run) == "2013-02-03"
    assert render(params={"span": "2013-01-14"}, dag_run=run) == "2013-01-14"
    train_env = dagbag.dags["flights_train"].get_template_env()
    monday = dt.datetime(2013, 1, 14, 6, tzinfo=dt.UTC)
    assert (
        train_env.from_string("{{ ml_span('flights', params.span, data_interval_end, -1) }}").render(
            params={"span": None}, data_interval_end=monday
        )
        == "2013-01-13"
    )
    slug = train_env.from_string("{{ ml_run_slug(run_id) }}").render(
        run_id="manual__2013-01-14T00:00:00+00:00"
    )
    assert slug == "manual__2013-01-14T00_00_00_00_00"


def test_run_span_and_slug_reject_bad_input():
    with pytest.raises(PipelineError, match="pass the span"):
        run_span("flights", None, None)
    with pytest.raises(PipelineError, match="not a daily span of pipeline flights"):
        run_span("flights", "../../etc", None)
    assert run_slug("scheduled__2013-01-14T06:00:00+00:00") == "scheduled__2013-01-14T06_00_00_00_00"
    assert run_slug("..::weird run") == "weird_run"


def test_span_sensor_waits_for_the_marker_and_names_it_on_timeout(tmp_path, monkeypatch):
    monkeypatch.setenv("ML_DATA_ROOT", str(tmp_path))
    folder = tmp_path / "flights" / "span=2013-01-02"
    folder.mkdir(parents=True)
    sensor = SpanSensor(
        task_id="wait", pipeline="flights", span="2013-01-02", mode="poke", poke_interval=0, timeout=0
    )
    with pytest.raises(
        AirflowSensorTimeout,
        match=r"span 2013-01-02 never landed: .*"
        r"span=2013-01-02/_SUCCESS is still missing",
    ):
        sensor.execute(context={})
    (folder / "_SUCCESS").touch()
    assert sensor.execute(context={}) == {"span": "2013-01-02", "landing_dir": str(folder)}


def test_train_runner_factory(monkeypatch):
    common = {"task_id": "train", "pipeline": "flights", "transform_dir": "t", "output_dir": "m"}
    monkeypatch.setenv("ML_TRAIN_GPUS", "2")
    local = train_operator(**common)
    assert isinstance(local, LocalTrainOperator) and local.gpus == 2
    monkeypatch.setenv("ML_TRAIN_RUNNER", "kubernetes")
    with pytest.raises(ValueError, match="ML_TRAIN_RUNNER"):
        train_operator(**common)
    monkeypatch.setenv("ML_TRAIN_RUNNER", "docker")
    docker_train = pytest.importorskip("ml_airflow.docker_train")
    docker = train_operator(**common)
    assert isinstance(docker, docker_train.TrainerDockerOperator)


def test_results_become_strict_json():
    result = jsonable(
        {"path": Path("/a/b"), "precision": float("nan"), "auc": 0.8, "nested": {"x": float("inf")}}
    )
    assert result == {"path": "/a/b", "precision": None, "auc": 0.8, "nested": {"x": None}}


def test_train_output_helpers():
    assert gpu_env(0) == {"CUDA_VISIBLE_DEVICES": ""} and gpu_env(-1) == {}
    assert [parse_gpus(v) for v in (None, "", "0", "2", "all", "-1")] == [0, 0, 0, 2, -1, -1]


def test_train_runners_read_the_outcome_file_not_the_logs(tmp_path):
    """A step run as a subprocess (the runners' way) leaves its error's fields in its outcome
    file; `finish` fails the task for good with them, returns a success's result, and calls a
    run that left no file a crash (retried) with the log tail."""
    output = str(tmp_path / "artifacts/flights/models/r1")
    argv = train_argv("flights", "/t", output, 3)
    assert argv[argv.index("--outcome") + 1] == str(outcome_file(output)) and argv[-2:] == ["--epochs", "3"]
    assert outcome_file(output).parent == Path(output).parent  # on the mount, beside M
    step = subprocess.run(  # any command takes --outcome: rollback fails fast with nothing served
        [
            sys.executable,
            "-m",
            "ml",
            "rollback",
            "--pipeline",
            "flights",
            "--outcome",
            str(outcome_file(output)),
        ]
        + ["--serving-root", str(tmp_path / "serving"), "--artifact-root", str(tmp_path / "artifacts")],
        capture_output=True,
        text=True,
    )
    assert step.returncode == 2 and step.stdout == ""
    ti = XComRecorder()
    with pytest.raises(AirflowFailException, match="no loaded version"):
        finish({"ti": ti}, output, "`ml train` exited with code 2", ["the log: not read"])
    error = ti.pushed["ml_error"]
    assert error["rule"] == "rollback-last-version" and error["file"].endswith("models.config")

    from ml.artifact import StepOutcome

    StepOutcome.succeeded("train", {"model_dir": output, "epochs": 3}).write(outcome_file(output))
    assert finish({"ti": ti}, output, "unused", []) == {"model_dir": output, "epochs": 3}

    clear_outcome(output)
    with pytest.raises(AirflowException, match="exited with code -9 and left no outcome") as crash:
        finish({"ti": ti}, output, "`ml train` exited with code -9", ["epoch 1/3", "Killed"])
    assert not isinstance(crash.value, AirflowFailException) and "Killed" in str(crash.value)


def test_blessing_gate_reason_and_decision():
    blessed = {"blessed": True, "model_dir": "/m/r1", "candidate": {"auc": 0.81}, "baseline_metrics": None}
    rejected = {
        "blessed": False,
        "model_dir": "/m/r2",
        "failing_metric": "auc",
        "failing_slice": "Overall",
        "candidate": {"auc": 0.5},
        "baseline_metrics": {"auc": 0.8},
    }
    assert is_blessed(blessed) is True and is_blessed(rejected) is False
    assert is_blessed(None) is False
    assert "threshold failed: auc on slice Overall" in blessing_reason(rejected)
    assert "baseline auc=0.8" in blessing_reason(rejected)


def test_report_links_and_artifact_route(tmp_path, monkeypatch):
    monkeypatch.setenv("ML_ARTIFACT_ROOT", str(tmp_path))
    report = tmp_path / "flights" / "spans" / "2013-01-02" / "validation" / "data docs.html"
    report.parent.mkdir(parents=True)
    report.write_text("<html>docs</html>")
    (report.parent / "stats.tfrecord").write_bytes(b"\0")
    url = report_url(str(report))  # host-relative: no host or port frozen at task time
    assert url == "/ml-artifacts/flights/spans/2013-01-02/validation/data%20docs.html"
    assert report_url("/elsewhere/x.html") == "" and report_url(None) == ""
    links = ValidateOperator.operator_extra_links
    assert report_paths(links, {"data_docs": str(report), "stats_html": None}) == {"data_docs": str(report)}
    assert len({link.xcom_key for link in links}) == len(links)  # one XCom per button
    assert (
        ReportLink("x", "evaluation_dir", "metrics.json").xcom_key
        != ReportLink("y", "evaluation_dir").xcom_key
    )
    # the route serving them: tests/unit/test_ml_view.py


def _sample(parser, command: str, dest: str) -> tuple[str, object]:
    """A value the command's option accepts, and what argparse makes of it."""
    sub = next(a for a in parser._subparsers._group_actions[0].choices.items() if a[0] == command)[1]
    action = next(a for a in sub._actions if a.dest == dest)
    text = str(action.choices[0]) if action.choices else "3" if action.type is int else f"/x/{dest}"
    return text, action.type(text) if callable(action.type) and action.type is int else text


def test_every_operator_passes_options_its_command_parses():
    """A step's parameters are declared once, as its command's argparse options: each operator
    only names them (`step_params`, its templated fields), and its argv parses with the real
    parser to the values it was given; a required option is required by the operator too."""
    from ml.cli import build_parser
    from ml_airflow import operators as ops

    parser = build_parser()
    subparsers = parser._subparsers._group_actions[0].choices
    classes = [
        c
        for c in vars(ops).values()
        if isinstance(c, type) and issubclass(c, ops.MLCommandOperator) and "command" in vars(c)
    ]
    assert {c.command for c in classes} >= {"ingest", "validate", "transform", "evaluate", "push", "monitor"}
    for cls in classes:
        samples = {name: _sample(parser, cls.command, name) for name in cls.step_params}
        op = cls(task_id="t", pipeline="flights", **{name: text for name, (text, _) in samples.items()})
        assert tuple(op.template_fields) == ("pipeline", *cls.step_params), cls
        args = parser.parse_args([cls.command, "--pipeline", "flights", *op.command_args()])
        assert {name: getattr(args, name) for name in samples} == {n: v for n, (_, v) in samples.items()}
        required = {a.dest for a in subparsers[cls.command]._actions if a.required} - {"pipeline"}
        assert required <= {n for n, d in cls.step_params.items() if d is ops.REQUIRED}, cls
    with pytest.raises(TypeError, match="needs span"):
        ops.ValidateOperator(task_id="t", pipeline="flights")
    train = parser.parse_args(train_argv("flights", "/t", "/a/m", "2"))
    assert (train.transform_dir, train.output, train.epochs, train.outcome) == (
        "/t",
        "/a/m",
        2,
        outcome_file("/a/m"),
    )
