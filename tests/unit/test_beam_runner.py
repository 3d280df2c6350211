"""Every Beam pipeline the project builds runs on `ML_BEAM_RUNNER` with the flags of `ML_BEAM_ARGS`.

No production runner (Dataflow, Flink, Spark) can be reached from here, so the proof has two
halves that meet. At run time, the Beam steps run for real on one real span (validate with TFDV's
Beam statistics, the TFT transform, TFMA in evaluate) with `ML_BEAM_RUNNER` naming a runner class
by its dotted path, which Beam imports as it would any other package's runner: Beam's in-process
FnApiRunner, unchanged, except that it notes each pipeline it is given, the options with it and
the function in ml/ that ran it (tests/beam_recorder.py). `ML_BEAM_ARGS` holds flags that no
default sets. In the source, every call in ml/ that builds a Beam pipeline passes
`ml.beam.pipeline_options()` (checked with `ast`: a new call site without it fails here), nothing
else in ml/ builds Beam options or a runner, and the call sites found are exactly the ones the
steps were seen running through the recording runner. The Dataflow, Flink and Spark settings of
docs/how-to/beam-runners.md are parsed and validated by this Beam's own option classes.
"""

from __future__ import annotations

import ast
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from ml.roots import Roots

from beam_recorder import RUNS, RecordingRunner
from conftest import cli

ROOT = Path(__file__).resolve().parents[2]
RUNNER = f"{RecordingRunner.__module__}.{RecordingRunner.__qualname__}"
JOB_NAME = "ml-beam-runner-test"  # read by no local runner, set by no default
LABEL = "proof=ml-beam-args"
SPAN = "2013-01-02"

# Calls that build a Beam pipeline, and the keyword that must carry `pipeline_options()`.
PIPELINES = {"Pipeline": "options", "TestPipeline": "options"}
OWN_PIPELINE = {  # TFDV/TFMA helpers that build their own pipeline (DirectRunner unless told)
    name: "pipeline_options"
    for name in (
        "generate_statistics_from_csv",
        "generate_statistics_from_tfrecord",
        "validate_examples_in_csv",
        "validate_examples_in_tfrecord",
        "run_model_analysis",
    )
}
NEVER = {
    "analyze_raw_data": "tfma.analyze_raw_data builds beam.Pipeline() with no options",
    "PipelineOptions": "Beam options are built only by ml.beam.pipeline_options()",
    "create_runner": "the runner is named only by ML_BEAM_RUNNER",
}
OPTIONS_HOME = "ml/beam.py"  # the one place that builds PipelineOptions


@dataclass(frozen=True)
class BeamCall:
    site: str  # `ml/<file>.py:<function>`, as tests/beam_recorder.py names a running pipeline
    line: int
    call: str
    problem: str | None


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _is_pipeline_options(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Call) and _name(node.func) == "pipeline_options"


def beam_calls(source: str, file: str) -> list[BeamCall]:
    """Every call in `source` that builds a Beam pipeline, options or runner, with what is wrong."""
    calls: list[BeamCall] = []
    scope = ["<module>"]

    class Visitor(ast.NodeVisitor):
        def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
            scope.append(node.name)
            self.generic_visit(node)
            scope.pop()

        visit_AsyncFunctionDef = visit_FunctionDef

        def visit_Call(self, node: ast.Call) -> None:
            name = _name(node.func)
            keyword = PIPELINES.get(name) or OWN_PIPELINE.get(name)
            problem = None
            if keyword:
                given = {k.arg: k.value for k in node.keywords}
                if not _is_pipeline_options(given.get(keyword)):
                    problem = f"pass {keyword}=pipeline_options() (from ml.beam) in the call itself"
            elif name in NEVER or name.endswith("Runner"):
                problem = NEVER.get(name, "a runner built here would ignore ML_BEAM_RUNNER")
                if name == "PipelineOptions" and file == OPTIONS_HOME:
                    problem = None
            else:
                self.generic_visit(node)
                return
            calls.append(BeamCall(f"{file}:{scope[-1]}", node.lineno, name, problem))
            self.generic_visit(node)

    Visitor().visit(ast.parse(source, filename=file))
    return calls


def project_beam_calls() -> list[BeamCall]:
    return [
        call
        for path in sorted((ROOT / "ml").rglob("*.py"))
        for call in beam_calls(path.read_text(), path.relative_to(ROOT).as_posix())
    ]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, landed_data_root) -> dict[str, list]:
    """`{step: the Beam pipelines it ran}` for one span through the steps, on the recording runner."""
    base = tmp_path_factory.mktemp("beam-runner")
    shutil.copytree(landed_data_root, base / "data")
    roots = Roots.resolve(base / "data", base / "artifacts", base / "serving")
    steps: dict[str, list] = {}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ML_BEAM_RUNNER", RUNNER)
        env.setenv("ML_BEAM_ARGS", f"--job_name={JOB_NAME} --labels={LABEL}")
        env.delenv("ML_BEAM_WORKERS", raising=False)
        env.setenv("ML_STATS_BACKEND", "beam")  # span statistics through TFDV's Beam path

        def step(name: str, *args: str) -> dict:
            start = len(RUNS)
            result = cli(roots, *args)
            steps[name] = RUNS[start:]
            return result

        cli(roots, "ingest", "--span", SPAN)
        step("validate", "validate", "--span", SPAN)
        xf = step("transform", "transform", "--end-span", SPAN, "--window", "1", "--run-id", "beam")
        model = cli(roots, "train", "--transform-dir", xf["transform_dir"], "--epochs", "1")
        step("evaluate", "evaluate", "--model", model["model_dir"])
    return steps


@pytest.mark.slow
@pytest.mark.parametrize(
    ("step", "library_transform"),
    [("validate", "Statistics"), ("transform", "Analyze"), ("evaluate", "EvaluateAndWrite")],
)
def test_each_beam_step_runs_on_the_runner_and_flags_of_the_environment(recorded, step, library_transform):
    runs = recorded[step]
    assert any(library_transform in run.labels for run in runs), [run.labels for run in runs]
    for run in runs:
        assert run.options["runner"] == RUNNER, run
        assert (run.options["job_name"], run.options["labels"]) == (JOB_NAME, [LABEL]), run


@pytest.mark.slow
def test_every_call_site_in_the_source_ran_on_the_configured_runner(recorded):
    """The call sites `ast` finds in ml/ are the ones the steps ran through the recording runner:
    a new pipeline is either missed by neither half or fails here."""
    found = {
        call.site for call in project_beam_calls() if call.call in PIPELINES or call.call in OWN_PIPELINE
    }
    ran = {run.site for runs in recorded.values() for run in runs}
    assert found == ran, f"in the source, not run here: {found - ran}; run, not found: {ran - found}"


def test_every_beam_pipeline_in_ml_takes_pipeline_options():
    calls = project_beam_calls()
    wrong = [
        f"{call.site} (line {call.line}): {call.call}(...): {call.problem}" for call in calls if call.problem
    ]
    assert not wrong, "\n".join(wrong)
    sites = {call.site for call in calls}
    assert {"ml/data/stats.py:statistics_with_beam", "ml/model/tfma_run.py:run_tfma"} <= sites, sites


@pytest.mark.parametrize(
    "source",
    [
        "beam.Pipeline()",
        "beam.Pipeline(options=PipelineOptions())",
        "Pipeline(pipeline_options())",  # Pipeline's first positional parameter is the runner
        "options = pipeline_options()\nbeam.Pipeline(options=options)",
        "tfdv.generate_statistics_from_csv(path)",
        "tfdv.validate_examples_in_tfrecord(path, stats, out, pipeline_options=None)",
        "tfma.run_model_analysis(model, config, path)",
        "tfma.analyze_raw_data(frame, config)",
        "DirectRunner()",
        "beam.runners.create_runner('FlinkRunner')",
        "PipelineOptions(flags=[])",
    ],
)
def test_the_guard_catches_a_pipeline_without_the_options(source):
    calls = beam_calls(source, "ml/new.py")
    assert calls and calls[-1].problem, calls


@pytest.mark.parametrize(
    "source",
    [
        "def f():\n    with beam.Pipeline(options=pipeline_options()) as p:\n        pass",
        "tfdv.generate_statistics_from_tfrecord(path, pipeline_options=ml.beam.pipeline_options())",
        "tfma.run_model_analysis(model, config, path, pipeline_options=pipeline_options())",
    ],
)
def test_the_guard_passes_a_pipeline_with_the_options(source):
    calls = beam_calls(source, "ml/new.py")
    assert calls and not any(call.problem for call in calls), calls


RUNNERS_PAGE = ROOT / "docs" / "how-to" / "beam-runners.md"


def documented_settings() -> list[tuple[str, list[str]]]:
    """(ML_BEAM_RUNNER, ML_BEAM_ARGS split as ml.beam splits it) of every `export` pair on the page."""
    settings, runner = [], None
    for line in RUNNERS_PAGE.read_text().replace("\\\n", " ").splitlines():
        if match := re.match(r"\s*export (ML_BEAM_RUNNER|ML_BEAM_ARGS)=(.*)", line):
            value = shlex.split(match[2])[0]  # as the shell assigns it
            if match[1] == "ML_BEAM_RUNNER":
                runner = value
            else:
                settings.append((runner, shlex.split(value)))
    return settings


def test_the_runner_flags_on_the_docs_page_are_flags_of_this_beam():
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
    from apache_beam.options.pipeline_options_validator import PipelineOptionsValidator
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    settings = documented_settings()
    assert [runner for runner, _ in settings] == ["DataflowRunner", "FlinkRunner", "SparkRunner"]
    for runner, flags in settings:
        assert runner in StandardOptions.KNOWN_RUNNER_NAMES
        options = PipelineOptions(flags=flags, runner=runner)
        known = options.get_all_options()
        unknown = set(options.get_all_options(retain_unknown_options=True)) - set(known)
        assert not unknown, f"{runner}: flags Beam does not know: {unknown}"
        # Beam's own checks of every option view (the cloud checks need a network: not here)
        assert PipelineOptionsValidator(options, FnApiRunner()).validate() == [], runner
        for flag in flags:  # each value reaches Beam as written
            name, _, value = flag.removeprefix("--").partition("=")
            read = known[name]
            assert value in (map(str, read) if isinstance(read, list) else [str(read)]), (flag, read)
