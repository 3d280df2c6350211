"""The shape of pipeline.yaml, checked by pydantic when a pipeline is loaded.

Unknown keys are refused (a typo is a mistake, not a silently ignored option), and the
cross-checks at the end catch what one field alone cannot: every column the key, the label,
the checks and the slices use must be declared. `ml.config.load_pipeline` turns the errors
into one PipelineError naming the file, each key and what is wrong.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ColumnType = Literal["string", "int", "float"]
Comparator = Literal["linf", "jsd"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Landing(Strict):
    folder: str = Field(min_length=1)
    file_glob: str = "*.csv"
    done_marker: str = "_SUCCESS"
    serving_log_folder: str | None = None


class SpanCfg(Strict):
    cadence: Literal["hourly", "daily", "weekly", "monthly"]
    format: str | None = None  # optional; when given it must be the cadence's (ml.cadence)
    start: dt.date
    ingest_schedule: str | None = None  # default: the cadence's cron (one tick per span start)
    train_schedule: str = "@weekly"

    @field_validator("ingest_schedule", "train_schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        from croniter import croniter

        if value is not None and not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression or preset")
        return value

    @model_validator(mode="after")
    def _cadence_agrees(self) -> SpanCfg:
        """The span format and the ingest cron must be those of the cadence: one run per span."""
        from ml.cadence import CADENCES, cron_problem

        kind = CADENCES[self.cadence]
        if self.format is not None and self.format != kind.format:
            raise ValueError(
                f"format: {self.format!r} is not the format of {self.cadence} span ids "
                f"({kind.format!r}, e.g. {kind.example}); drop it or write that"
            )
        if self.ingest_schedule is not None and (why := cron_problem(kind, self.ingest_schedule, self.start)):
            raise ValueError(f"ingest_schedule: {why}")
        return self


class Label(Strict):
    """Either the rule `source_column > threshold`, or `function` (a function of module.py,
    e.g. `label_fn(frame) -> 0/1 per row`) over the raw `columns` it reads. Applied once, at
    ingest: the label is written into the examples that training, evaluation and serving see."""

    name: str
    source_column: str | None = None
    threshold: float | None = None
    function: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    columns: list[str] = []
    max_null_fraction: float = Field(0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _rule_or_function(self) -> Label:
        rule, function = self.source_column is not None, self.function is not None
        if rule == function:
            raise ValueError(
                "give either source_column + threshold (a rule) or function + columns (module.py)"
            )
        if rule and self.threshold is None:
            raise ValueError("threshold: source_column needs a threshold (label = source_column > threshold)")
        if rule and self.columns:
            raise ValueError("columns: only for a function label (a rule reads source_column)")
        if function and not self.columns:
            raise ValueError(f"columns: name the raw columns {self.function}() reads")
        return self

    @property
    def reads(self) -> list[str]:
        return [self.source_column] if self.source_column else list(self.columns)


class Split(Strict):
    """Each example's split, from a stable hash of its example key (md5 mod 100): the same
    example lands in the same split on every ingest. Training fits on train and watches eval;
    with `test_percent`, a test split that nothing in training sees is what evaluation judges
    on (the gate, the benchmark, sensitivity, robustness); without one, evaluation judges eval."""

    eval_percent: int = Field(ge=1, le=99)  # hash < eval_percent: eval (validation during training)
    test_percent: int = Field(0, ge=0, le=98)  # the next band: a held-out test split (0: none)

    @model_validator(mode="after")
    def _leaves_train_rows(self) -> Split:
        if self.eval_percent + self.test_percent > 99:
            raise ValueError("eval_percent + test_percent must leave train rows (at most 99)")
        return self

    @property
    def judged(self) -> str:
        """The split evaluation judges on: `test` when there is one, else `eval`."""
        return "test" if self.test_percent else "eval"


class Feature(Strict):
    type: ColumnType
    derived: bool = False  # computed at ingest by module.py's derive_features(), not landed
    default: Any = None  # fills a missing value at ingest (none: a missing value fails the span)
    max_null_fraction: float | None = Field(None, ge=0, le=1)  # a larger missing share fails the span
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _range(self) -> Feature:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class DriftBaseline(Strict):
    window: int = Field(1, ge=1)
    missing: Literal["compute", "wait"] = "compute"
    wait_timeout_s: float = Field(600, gt=0)
    max_lookback: int = Field(7, ge=0)


class Check(Strict):
    severity: Literal["block", "warn"] = "block"
    features: dict[str, dict[Comparator, float]] = {}
    baseline: DriftBaseline | None = None


class Checks(Strict):
    great_expectations: Check = Check()
    schema_: Check = Field(Check(), alias="schema")
    drift: Check = Check()
    skew: Check = Check()


class RetrainOn(Strict):
    drift_features: list[str] = []
    new_spans: int | None = Field(None, ge=1)


class Training(Strict):
    window_spans: int = Field(14, ge=1)
    min_spans: int = Field(1, ge=1)
    epochs: int = Field(3, ge=1)
    batch_size: int = Field(256, ge=1)
    retrain_on: RetrainOn = RetrainOn()


# ---- evaluation: how a model is judged (docs/concepts/model.md)
class SliceThresholds(Strict):
    columns: list[str] = []  # features; each is also sliced on (evaluation.slices or not)
    auc_max_drop: float = Field(0.02, ge=0)  # per slice of those columns, vs the served model


class BenchmarkCfg(Strict):
    margin: float = 0.0  # the candidate's overall AUC must exceed the benchmark's by this
    epochs: int = Field(3, ge=1)


class Gaps(Strict):
    columns: list[str] = []
    max_fpr_gap: float | None = Field(None, ge=0, le=1)
    max_fnr_gap: float | None = Field(None, ge=0, le=1)
    severity: Literal["block", "warn"] = "warn"


class ProbeCfg(Strict):
    random_inputs: int = Field(64, ge=0)
    seed: int = 0


class SensitivityCfg(Strict):
    examples: int = Field(200, ge=1)
    grid: int = Field(8, ge=2)
    sharp_change: float = Field(0.1, gt=0)


class Evaluation(Strict):
    slices: list[list[str]] = [[]]
    metrics: list[str] = ["ExampleCount", "AUC"]
    thresholds: dict[Literal["auc_lower_bound", "auc_max_drop"], float] = {}
    min_slice_size: int = Field(1, ge=1)  # TFMA Options.min_slice_size; smaller never decide
    slice_thresholds: SliceThresholds = SliceThresholds()
    benchmark: BenchmarkCfg | None = None
    gaps: Gaps = Gaps()
    probe: ProbeCfg = ProbeCfg()
    sensitivity: SensitivityCfg = SensitivityCfg()


class Serving(Strict):
    wait_timeout_s: float = Field(120, gt=0)
    smoke_examples: int = Field(5, ge=1)
    keep_loaded: int = Field(3, ge=1)  # versions kept loaded (plus labelled ones); see ml/serving/labels.py


# ---- monitoring: the live model (docs/concepts/live-model.md)
class GroundTruth(Strict):
    """Where the late labels land and how they join a logged prediction."""

    folder: str | None = None  # <data_root>/<folder>/span=<id>/ (default: the landing folder)
    file_glob: str | None = None  # default: landing.file_glob
    done_marker: str | None = None  # default: landing.done_marker
    key: list[str] = []  # columns whose values, joined by "|", are the request id (default: example_key)
    lag_spans: int = Field(1, ge=0)  # labels of span D are due once span D+lag_spans has ended
    wait_timeout_s: float | None = Field(None, gt=0)  # then monitor with what arrived (partial)


class EventTime(Strict):
    """A prediction's span is the time of the event it is about (a flight's date), not when it
    was answered: the request's `event_time`/`event_times` field, else these columns of the
    request id (the ground-truth key): one column holding a date or time (ISO 8601, epoch
    seconds), or year, month, day[, hour]."""

    id_columns: list[str] = Field(min_length=1, max_length=4)

    @field_validator("id_columns")
    @classmethod
    def _date_parts(cls, columns: list[str]) -> list[str]:
        if len(columns) == 2:
            raise ValueError("one column (a date or time), or year, month, day[, hour]: not two")
        return columns


MONITOR_METRICS = {"auc": "AUC", "binary_accuracy": "BinaryAccuracy"}  # metric key -> TFMA metric


class Monitoring(Strict):
    predictions_folder: str | None = None  # <data_root>/<folder>/span=<id>/ (default <name>_predictions)
    score_output: str = "probabilities"  # the output of a predict answer that is the score
    event_time: EventTime | None = None  # none: a prediction's span is when it was answered
    canary_share: float = Field(0.0, ge=0, le=1)  # share of request ids answered by `canary`
    labels: GroundTruth = GroundTruth()
    metric: Literal["auc", "binary_accuracy"] = "auc"  # the realized metric that alarms (TFMA's key)
    alarm_slices: list[str] = ["Overall"]  # slices whose drop alarms (Overall, origin=EWR, ...)
    min_labelled: int = Field(200, ge=1)  # fewer labelled predictions in a slice never alarm
    # the chance that a span with no real change alarms, over all its alarm slices and versions
    # (each check at false_alarm_rate / checks: Bonferroni; ml/monitoring/band.py)
    false_alarm_rate: float = Field(0.01, gt=0, lt=0.5)
    bootstrap: int = Field(300, ge=50)  # resamples of the reference per band
    min_coverage: float = Field(0.5, ge=0, le=1)  # label coverage below this warns
    max_score_jsd: float = Field(0.1, gt=0, le=1)  # score distribution vs the eval split: above warns
    retrain_on_alarm: bool = True  # an alarm triggers the train DAG (reason: performance)
    # the served inputs' drift vs the model's training statistics (checks.drift thresholds) on one
    # of these features also triggers the train DAG (reason: served-drift); other drift only warns
    served_drift_features: list[str] = []
    # a feature whose served value differs from the same example as ingested in more than this
    # share of the joined examples warns (training/serving feature skew, per example)
    max_feature_skew: float = Field(0.01, ge=0, le=1)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "band_quantile" in data:
            raise ValueError(
                "band_quantile: replaced by false_alarm_rate, the chance that a span with no real "
                "change alarms over all its alarm slices and versions (e.g. 0.01: once in 100 spans)"
            )
        return data


class PipelineYaml(Strict):
    name: str  # the pipeline's name: its folder, DAG ids <name>_ingest/_train/_monitor
    model_name: str | None = None  # the served model's name in TF Serving (default: name)
    landing: Landing  # where the spans land and when one is complete
    span: SpanCfg  # the cadence, first span and schedules
    label: Label  # the label, computed once at ingest
    example_key: list[str] = Field(min_length=1)  # columns unique per row: the split, label joins
    split: Split  # the share of each span held out for evaluation
    min_rows: int = Field(1, ge=0)  # a span with fewer rows fails ingest
    features: dict[str, Feature] = Field(min_length=1)  # the model's inputs, typed, with ranges
    passthrough_columns: dict[str, ColumnType] = {}  # landed columns kept but not fed to the model
    checks: Checks = Checks()  # Great Expectations, schema, drift, skew: severity and thresholds
    training: Training = Training()  # window, epochs, batch size, what retrains
    evaluation: Evaluation = Evaluation()  # slices, metrics and thresholds of the blessing
    serving: Serving = Serving()  # push waits and how many versions stay loaded
    monitoring: Monitoring = Monitoring()  # the live model: predictions, late labels, alarms

    @model_validator(mode="after")
    def _columns_declared(self) -> PipelineYaml:
        derived = {name for name, f in self.features.items() if f.derived}
        declared = (set(self.features) | set(self.passthrough_columns)) - derived
        landed_features = set(self.features) - derived
        problems = []

        def need(where: str, column: str, pool: set[str] = declared, what: str = "a declared column") -> None:
            if column not in pool:
                problems.append(f"{where}: {column!r} is not {what} (features or passthrough_columns)")

        for column in self.example_key:
            need("example_key", column)
        where = "label.source_column" if self.label.source_column else "label.columns"
        for column in self.label.reads:
            need(where, column, what="a declared landed column")
        fed = [c for c in self.label.reads if c in self.features]
        if fed and len(fed) == len(self.label.reads):  # a feature may scale the label, not make it
            listed = ", ".join(repr(c) for c in fed)
            problems.append(
                f"features: {listed} {'is the source' if len(fed) == 1 else 'are every source'} of the label "
                f"({where}): the model would be fed its own answer (label leakage), so move "
                f"{listed} to passthrough_columns"
            )
        if self.label.name in declared | derived:
            problems.append(f"label.name: {self.label.name!r} is also a raw column; pick another name")
        for check in ("drift", "skew"):
            for feature in getattr(self.checks, check).features:
                if feature in derived:
                    problems.append(
                        f"checks.{check}.features: {feature!r} is a derived feature, but drift and skew "
                        "compare the landed columns"
                    )
                else:
                    need(f"checks.{check}.features", feature, landed_features, "a feature")
        for feature in self.training.retrain_on.drift_features:
            if feature not in self.checks.drift.features:
                problems.append(
                    f"training.retrain_on.drift_features: {feature!r} has no checks.drift.features threshold"
                )
        for keys in self.evaluation.slices:
            for feature in keys:
                need("evaluation.slices", feature, set(self.features), "a feature")
        for where in ("slice_thresholds", "gaps"):
            for feature in getattr(self.evaluation, where).columns:
                need(f"evaluation.{where}.columns", feature, set(self.features), "a feature")
        for column in self.monitoring.labels.key:
            need("monitoring.labels.key", column)
        problems += self._monitoring_problems(derived)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _monitoring_problems(self, derived: set[str]) -> list[str]:
        """Settings under which the monitor would silently never alarm, each with what to write."""
        spec, evaluation = self.monitoring, self.evaluation
        problems = []
        tfma_metric = MONITOR_METRICS[spec.metric]
        if tfma_metric not in evaluation.metrics and tfma_metric != "AUC":  # AUC is always computed
            problems.append(
                f"monitoring.metric: {spec.metric!r} needs {tfma_metric} in evaluation.metrics "
                "(the monitor computes the evaluation's metrics): add it there"
            )
        sliced = {keys[0] for keys in evaluation.slices if len(keys) == 1}
        sliced |= set(evaluation.slice_thresholds.columns) | set(evaluation.gaps.columns)
        for name in spec.alarm_slices:
            column = name.split("=", 1)[0]
            if name == "Overall":
                continue
            if "=" not in name or column not in self.features:
                problems.append(
                    f"monitoring.alarm_slices: {name!r} is neither Overall nor <feature>=<value> of a feature"
                )
            elif column in derived:
                problems.append(
                    f"monitoring.alarm_slices: {name!r} slices a derived feature, which clients never "
                    "send (the logged requests have no such column): slice a landed feature instead"
                )
            elif column not in sliced:
                problems.append(
                    f"monitoring.alarm_slices: {name!r} slices {column!r}, which the evaluation does not "
                    f"slice by (so the monitor has no value there): add [{column}] to evaluation.slices"
                )
        for feature in spec.served_drift_features:
            if feature not in self.checks.drift.features:
                problems.append(
                    f"monitoring.served_drift_features: {feature!r} has no checks.drift.features "
                    "threshold to judge its drift by: add one there"
                )
        key = spec.labels.key or self.example_key
        for column in spec.event_time.id_columns if spec.event_time else []:
            if column not in key:
                problems.append(
                    f"monitoring.event_time.id_columns: {column!r} is not a column of the request id "
                    f"({'monitoring.labels.key' if spec.labels.key else 'example_key'}: {', '.join(key)})"
                )
        return problems
