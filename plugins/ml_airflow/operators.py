"""One thin operator per pipeline step: Airflow context -> `ml` CLI argv -> result dict (XCom).

Each operator runs `python -m ml <command> --pipeline P ...` in-process through
`ml.cli.run_command` (the heavy libraries are imported by `ml` at execute time, never at DAG
parse). The returned dict (paths, counts, metrics, blessed) becomes the task's XCom. A
`PipelineError` fails the task without retries (re-running cannot fix bad data) with the error
paragraph in the log; its fields land in XCom `ml_error` and its file behind the "Failure
report" link. Any other exception (I/O, a killed process) fails the try and is retried.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, NoReturn

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from ml.config import load_pipeline
from ml.errors import PipelineError
from ml.roots import Roots
from ml.spans import SpanPaths
from ml_airflow.links import (
    ERROR_XCOM,
    FAILURE_KEY,
    FAILURE_LINK,
    REPORTS_XCOM,
    ReportLink,
    report_paths,
)


def jsonable(result: dict) -> dict:
    """The result as strict JSON (paths -> str, NaN/inf -> None) so that XCom can store it."""
    return json.loads(json.dumps(result, sort_keys=True, default=str), parse_constant=lambda _: None)


def fail_for_good(
    context, message: str, reports: dict[str, str] | None = None, **fields: str | None
) -> NoReturn:
    """Record the error (message, span, file, column, rule) and the reports it left in XCom,
    then fail the task without retries."""
    ti = context["ti"]
    ti.xcom_push(key=ERROR_XCOM, value={"message": message, **fields})
    if reports:
        ti.xcom_push(key=REPORTS_XCOM, value=reports)
    raise AirflowFailException(message) from None


REQUIRED = object()  # a parameter the operator must be given (its command requires the option)


def flag(name: str) -> str:
    """The `ml` option of a parameter: `end_span` -> `--end-span`."""
    return "--" + name.replace("_", "-")


def step_argv(values: dict[str, Any]) -> list[str]:
    """`--name value` for each parameter given; None or "" is left out, so the command's own
    default (declared once, in its argparse) applies."""
    return [arg for name, v in values.items() if v not in (None, "") for arg in (flag(name), str(v))]


class MLCommandOperator(BaseOperator):
    """Base class: `python -m ml <command> --pipeline <pipeline> <command_args()>` in-process.

    `step_params` names the command's options the operator passes (`{"span": REQUIRED, "stage":
    None}`): each is a keyword argument, a templated field and `--span VALUE` in the argv; a
    parameter not given is left out, so the default is the CLI's. tests/unit/test_dags.py parses
    every operator's argv with the command's real parser.
    """

    command: ClassVar[str]
    step_params: ClassVar[dict[str, object]] = {}
    template_fields: Sequence[str] = ("pipeline",)
    operator_extra_links: tuple[ReportLink, ...] = (FAILURE_LINK,)
    ui_color = "#e3f2fd"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "template_fields" not in cls.__dict__:
            cls.template_fields = ("pipeline", *cls.step_params)

    def __init__(self, *, pipeline: str, **kwargs) -> None:
        params = self.step_params
        missing = [name for name, default in params.items() if default is REQUIRED and name not in kwargs]
        if missing:
            raise TypeError(f"{type(self).__name__} needs {', '.join(missing)}")
        values = {name: kwargs.pop(name, None if d is REQUIRED else d) for name, d in params.items()}
        super().__init__(**kwargs)
        self.pipeline = pipeline
        for name, value in values.items():
            setattr(self, name, value)

    def step_values(self) -> dict[str, Any]:
        """Each parameter's (rendered) value."""
        return {name: getattr(self, name) for name in self.step_params}

    def command_args(self) -> list[str]:
        return step_argv(self.step_values())

    def execute(self, context) -> dict[str, Any]:
        context["ti"].xcom_push(key=REPORTS_XCOM, value={})
        result = self.run_ml(context, [self.command, *self.command_args()])
        result = self.extend(context, result)
        context["ti"].xcom_push(key=REPORTS_XCOM, value=report_paths(self.operator_extra_links, result))
        return result

    def extend(self, context, result: dict[str, Any]) -> dict[str, Any]:
        """Hook: add to the result (e.g. a further report) before it becomes the XCom."""
        return result

    def failure_reports(self, exc: PipelineError) -> dict[str, str]:
        """Reports worth a link when the command failed (`{link key: path}`)."""
        return {FAILURE_KEY: exc.file} if exc.file else {}

    def run_ml(self, context, argv: list[str]) -> dict[str, Any]:
        return run_ml(self, context, argv, self.failure_reports)


def run_ml(
    task: Any,
    context,
    argv: list[str],
    failure_reports: Callable[[PipelineError], dict[str, str]] | None = None,
) -> dict[str, Any]:
    """`python -m ml <argv> --pipeline <task.pipeline>` in-process -> its JSON-safe result dict.

    A PipelineError fails the task for good (see `fail_for_good`), with `failure_reports(exc)`.
    """
    from ml.cli import run_step
    from ml.logs import quiet_libraries

    quiet_libraries()
    argv = [*argv[:1], "--pipeline", task.pipeline, *argv[1:]]
    preloaded = " (worker preload active)" if "ml_airflow.preload" in sys.modules else ""
    task.log.info("python -m ml %s%s", shlex.join(argv), preloaded)
    try:
        ran = run_step(argv)
        result = jsonable(ran.result)
    except PipelineError as exc:
        fail_for_good(
            context,
            str(exc),
            failure_reports(exc) if failure_reports else {},
            span=exc.span,
            file=exc.file,
            column=exc.column,
            rule=exc.rule,
        )
    except SystemExit as exc:  # argparse rejected the argv (usage printed above)
        raise AirflowFailException(
            f"`python -m ml {shlex.join(argv)}` exited with {exc.code}: bad arguments for this ml version"
        ) from None
    code = int(result.pop("exit_code", 0) or 0)
    if code:
        raise AirflowFailException(
            f"`ml {argv[0]}` finished with exit code {code}: {json.dumps(result, sort_keys=True)}"
        )
    task.log.info("%s", ran.summary or f"{argv[0]}: done")  # one line in plain words
    task.log.debug("result:\n%s", json.dumps(result, sort_keys=True, indent=2))
    return result


class SpanOperator(MLCommandOperator):
    """A step over one span (`--span D`)."""

    step_params: ClassVar[dict[str, object]] = {"span": REQUIRED}
    span: str  # set from step_params (so are the attributes annotated below)


class IngestOperator(SpanOperator):
    """Landing CSV(s) of the span -> validated train/eval tf.Example TFRecords.

    A failed ingest leaves `<artifact_root>/<pipeline>/spans/<span>/ingest_failure.json` (the
    error's fields), served by the ML view like every other report, behind "Failure report"
    (the landing CSV it names is outside the artifact root and would get no link).
    """

    command = "ingest"

    def failure_reports(self, exc: PipelineError) -> dict[str, str]:
        from ml.artifact import StepFailure

        report = SpanPaths(load_pipeline(self.pipeline), Roots.resolve()).ingest_failure_file(self.span)
        if not report.is_file():  # the ingest command writes it; a failure before it did
            report.parent.mkdir(parents=True, exist_ok=True)
            StepFailure.of(exc, self.command, self.span).write(report)
        return {FAILURE_KEY: str(report)}


class ValidateOperator(SpanOperator):
    """Great Expectations + TFDV checks of the span; blocking anomalies fail the task.

    The reports are written before a blocking failure, so the links work on failed runs too
    ("Failure report" is then the verdict). When the span had a drift baseline, `stats-html
    --baseline` adds the side-by-side statistics view.
    """

    command = "validate"
    operator_extra_links = (
        ReportLink("Data Docs (Great Expectations)", "data_docs"),
        ReportLink("Statistics (TFDV)", "stats_html"),
        ReportLink("Statistics vs previous span (TFDV)", "stats_vs_previous_html"),
        ReportLink("Anomalies", "anomalies_file"),
        FAILURE_LINK,
    )

    def extend(self, context, result: dict[str, Any]) -> dict[str, Any]:
        self.emit_partitions(context, result)
        if not result.get("baseline_span"):
            return result
        compared = self.run_ml(context, ["stats-html", "--span", self.span, "--baseline"])
        return {**result, "stats_vs_previous_html": compared["stats_html"]}

    def emit_partitions(self, context, result: dict[str, Any]) -> None:
        """Every outlet asset event of a passed span carries the span as its partition key, also in
        manual runs (whose DAG run has no partition key); a failed span emits none."""
        for asset in self.outlets:
            event = context["outlet_events"][asset]
            event.add_partitions(self.span)
            event.extra = {"span": self.span, "rows": result.get("rows"), "warnings": result.get("anomalies")}

    def failure_reports(self, exc: PipelineError) -> dict[str, str]:
        paths = SpanPaths(load_pipeline(self.pipeline), Roots.resolve())
        written = {
            "data_docs": paths.data_docs_index(self.span),
            "stats_html": paths.stats_html(self.span),
            "anomalies_file": paths.anomalies_file(self.span),
            FAILURE_KEY: paths.verdict_file(self.span),
        }
        return {
            **{key: str(path) for key, path in written.items() if path.is_file()},
            **super().failure_reports(exc),
        }


class ServeSpanOperator(SpanOperator):
    """The embedded default's serving: answer the span's requests with the live model and write
    its prediction log (`ml serve-span`; in production the logging service writes it)."""

    command = "serve-span"


class MonitorOperator(SpanOperator):
    """The live model on one span (`ml monitor`): `stage="estimated"`, the CBPE estimate from the
    prediction log before labels (warns, never alarms); `stage="realized"`, late labels joined,
    realized (TFMA) and estimated performance per version, alarm bands; recorded in the results
    store. The realized result carries the retraining decision the next task acts on."""

    command = "monitor"
    step_params: ClassVar[dict[str, object]] = {"span": REQUIRED, "stage": None}
    operator_extra_links = (
        ReportLink("Live model (monitor.json)", "monitor_file"),
        FAILURE_LINK,
    )


class TransformOperator(MLCommandOperator):
    """TFT analyze + transform over the window of spans ending at `end_span`."""

    command = "transform"
    step_params: ClassVar[dict[str, object]] = {"end_span": REQUIRED, "run_id": REQUIRED, "window": None}


class ModelOperator(MLCommandOperator):
    """A step over one trained model dir (`--model M`)."""

    step_params: ClassVar[dict[str, object]] = {"model": REQUIRED}
    model: str


class EvaluateOperator(ModelOperator):
    """TFMA evaluation with slices and thresholds against the served baseline -> `blessed`."""

    command = "evaluate"
    step_params: ClassVar[dict[str, object]] = {"model": REQUIRED, "baseline": None}
    operator_extra_links = (
        ReportLink("Metrics per slice (TFMA)", "metrics_file"),
        ReportLink("Blessing", "blessing"),
        FAILURE_LINK,
    )


class InfraValidateOperator(ModelOperator):
    """Load the SavedModel in a clean process and query its serving signature."""

    command = "infra-validate"


class PushOperator(ModelOperator):
    """Copy a blessed model into TF Serving's versioned model base path.

    `serving_url` (default env ML_SERVING_URL): a TF Serving REST endpoint to wait on and smoke-test
    after the copy.
    """

    command = "push"
    step_params: ClassVar[dict[str, object]] = {"model": REQUIRED, "blessing": REQUIRED, "serving_url": None}

    def command_args(self) -> list[str]:
        values = self.step_values()
        return step_argv({**values, "serving_url": values["serving_url"] or os.environ.get("ML_SERVING_URL")})
