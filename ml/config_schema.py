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
    model_config = ConfigDict(extra="forbid")


class Landing(Strict):
    folder: str = Field(min_length=1)
    file_glob: str = "*.csv"
    done_marker: str = "_SUCCESS"
    serving_log_folder: str | None = None


class SpanCfg(Strict):
    format: str = "%Y-%m-%d"
    start: dt.date
    ingest_schedule: str = "@daily"
    train_schedule: str = "@weekly"

    @field_validator("ingest_schedule", "train_schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression or preset")
        return value


class Label(Strict):
    name: str
    source_column: str
    threshold: float
    max_null_fraction: float = Field(0.0, ge=0, le=1)


class Split(Strict):
    eval_percent: int = Field(ge=1, le=99)


class Feature(Strict):
    type: ColumnType
    default: Any = None
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _range(self) -> Feature:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class Baseline(Strict):
    window: int = Field(1, ge=1)
    missing: Literal["compute", "wait"] = "compute"
    wait_timeout_s: float = Field(600, gt=0)
    max_lookback: int = Field(7, ge=0)


class Check(Strict):
    severity: Literal["block", "warn"] = "block"
    features: dict[str, dict[Comparator, float]] = {}
    baseline: Baseline | None = None


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


# ---- evaluation: how a model is judged (README "How a model is judged")
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


class PipelineYaml(Strict):
    name: str
    model_name: str | None = None
    landing: Landing
    span: SpanCfg
    label: Label
    example_key: list[str] = Field(min_length=1)
    split: Split
    min_rows: int = Field(1, ge=0)
    features: dict[str, Feature] = Field(min_length=1)
    passthrough_columns: dict[str, ColumnType] = {}
    checks: Checks = Checks()
    training: Training = Training()
    evaluation: Evaluation = Evaluation()
    serving: Serving = Serving()

    @model_validator(mode="after")
    def _columns_declared(self) -> PipelineYaml:
        declared = set(self.features) | set(self.passthrough_columns)
        problems = []

        def need(where: str, column: str, pool: set[str] = declared, what: str = "a declared column") -> None:
            if column not in pool:
                problems.append(f"{where}: {column!r} is not {what} (features or passthrough_columns)")

        for column in self.example_key:
            need("example_key", column)
        need("label.source_column", self.label.source_column)
        if self.label.name in declared:
            problems.append(f"label.name: {self.label.name!r} is also a raw column; pick another name")
        for check in ("drift", "skew"):
            for feature in getattr(self.checks, check).features:
                need(f"checks.{check}.features", feature, set(self.features), "a feature")
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
        if problems:
            raise ValueError("; ".join(problems))
        return self
