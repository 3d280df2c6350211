"""Pipeline configuration: `ml/pipelines/<name>/pipeline.yaml` + its module file."""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from ml.errors import ConfigError, MissingArtifact, PipelineError

PIPELINES_DIR_ENV = "ML_PIPELINES_DIR"  # another folder of pipeline folders (tests, experiments)
PIPELINES_DIR = Path(os.environ.get(PIPELINES_DIR_ENV) or Path(__file__).resolve().parent / "pipelines")
FEATURE_TYPES = ("string", "int", "float")
_SUBKEY = re.compile(r"^([a-z_][a-z0-9_]*): ")


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    type: str
    default: Any = None
    min: float | None = None
    max: float | None = None
    derived: bool = False  # computed at ingest by the module's derive_features(), not landed
    max_null_fraction: float | None = None  # a larger share of missing values fails the span


@dataclass(frozen=True)
class CheckSpec:
    severity: str = "block"  # block | warn
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)  # feature -> {linf|jsd: t}

    @property
    def blocking(self) -> bool:
        return self.severity == "block"


@dataclass(frozen=True)
class PipelineConfig:
    """A pipeline: its folder (pipeline.yaml, module.py, schema.pbtxt) and `spec`, the validated
    pipeline.yaml (`ml.config_schema.PipelineYaml`, frozen: every default lives there). The
    properties below are names for what many steps read, never a second default."""

    name: str
    folder: Path
    raw: dict[str, Any]  # pipeline.yaml as read (`spec` is validated from it, once)

    @functools.cached_property
    def spec(self):  # -> ml.config_schema.PipelineYaml (pydantic: imported when used)
        """The validated pipeline.yaml: one PipelineError naming every wrong key otherwise."""
        return validated(self.raw, self.folder / "pipeline.yaml")

    @property
    def model_name(self) -> str:
        return self.spec.model_name or self.name

    @functools.cached_property
    def features(self) -> tuple[FeatureSpec, ...]:
        return tuple(
            FeatureSpec(
                name=name,
                type=f.type,
                default=f.default,
                min=f.min,
                max=f.max,
                derived=f.derived,
                max_null_fraction=f.max_null_fraction,
            )
            for name, f in self.spec.features.items()
        )

    @property
    def passthrough_columns(self) -> dict[str, str]:
        return dict(self.spec.passthrough_columns)

    # ---- landing / spans
    @property
    def landing_folder(self) -> str:
        return self.spec.landing.folder

    @property
    def landing_glob(self) -> str:
        return self.spec.landing.file_glob

    @property
    def done_marker(self) -> str:
        return self.spec.landing.done_marker

    @property
    def serving_log_folder(self) -> str:
        return self.spec.landing.serving_log_folder or f"{self.name}_serving"

    @property
    def span_cadence(self) -> str:
        """hourly | daily | weekly | monthly (ml.cadence); ml.spans does the arithmetic."""
        return self.spec.span.cadence

    @property
    def span_format(self) -> str:
        """strftime format of the span ids (the cadence's; a pipeline.yaml `format` must agree)."""
        from ml.cadence import CADENCES

        return CADENCES[self.span_cadence].format

    @property
    def span_start(self) -> str:
        return str(self.spec.span.start)

    @property
    def ingest_schedule(self) -> str:
        """Cron (or preset) of the ingest DAG: one tick per span (default: the cadence's)."""
        from ml.cadence import CADENCES

        return self.spec.span.ingest_schedule or CADENCES[self.span_cadence].cron

    @property
    def train_schedule(self) -> str:
        """Cron (or preset) of the train DAG."""
        return self.spec.span.train_schedule

    # ---- label / split
    @property
    def label(self) -> str:
        return self.spec.label.name

    @property
    def label_function(self) -> str | None:
        """The module.py function computing the label (None: the rule source_column > threshold)."""
        return self.spec.label.function

    @property
    def label_columns(self) -> list[str]:
        """The raw columns the label is computed from."""
        return self.spec.label.reads

    @property
    def label_source(self) -> str:
        """The rule's source column; a function label's first column (for messages)."""
        return self.label_columns[0]

    @property
    def label_threshold(self) -> float:
        return float(self.spec.label.threshold)

    @property
    def label_max_null_fraction(self) -> float:
        return self.spec.label.max_null_fraction

    @property
    def example_key(self) -> list[str]:
        return list(self.spec.example_key)

    @property
    def eval_percent(self) -> int:
        return self.spec.split.eval_percent

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits ingest writes: train, eval and, with split.test_percent, test."""
        return ("train", "eval", "test") if self.spec.split.test_percent else ("train", "eval")

    @property
    def min_rows(self) -> int:
        return self.spec.min_rows

    # ---- columns
    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def feature(self, name: str) -> FeatureSpec:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def landed_features(self) -> tuple[FeatureSpec, ...]:
        """The features read from the landing files (the derived ones are computed at ingest)."""
        return tuple(f for f in self.features if not f.derived)

    @property
    def derived_features(self) -> tuple[FeatureSpec, ...]:
        return tuple(f for f in self.features if f.derived)

    @property
    def raw_column_types(self) -> dict[str, str]:
        """Every column the landing CSV must have, with its type."""
        cols = {f.name: f.type for f in self.landed_features}
        for name, typ in self.passthrough_columns.items():
            cols.setdefault(name, typ)
        return cols

    # ---- checks / training / evaluation
    def check(self, name: str) -> CheckSpec:
        spec = getattr(self.spec.checks, "schema_" if name == "schema" else name)
        return CheckSpec(severity=spec.severity, thresholds={k: dict(v) for k, v in spec.features.items()})

    @property
    def training(self):  # -> ml.config_schema.Training
        return self.spec.training

    @property
    def window_spans(self) -> int:
        return self.spec.training.window_spans

    @property
    def min_spans(self) -> int:
        return self.spec.training.min_spans

    @property
    def train_epochs(self) -> int:
        return self.spec.training.epochs

    @property
    def train_batch_size(self) -> int:
        return self.spec.training.batch_size

    @property
    def eval_slices(self) -> list[list[str]]:
        """Slices as feature-key lists; `[]` is the overall slice."""
        return [list(s) for s in self.spec.evaluation.slices]

    @property
    def eval_sliced(self) -> list[list[str]]:
        """`eval_slices` plus a one-column slice for every slice-threshold or gap column."""
        slices = self.eval_slices
        options = self.eval_options
        for column in [*options.slice_thresholds.columns, *options.gaps.columns]:
            if [column] not in slices:
                slices.append([column])
        return slices

    @property
    def eval_metrics(self) -> list[str]:
        return list(self.spec.evaluation.metrics)

    @property
    def eval_thresholds(self) -> dict[str, float]:
        return dict(self.spec.evaluation.thresholds)

    @property
    def eval_options(self):  # -> ml.config_schema.Evaluation
        """The whole `evaluation:` block, typed: min slice size, slice thresholds, benchmark, ..."""
        return self.spec.evaluation

    @property
    def serving(self):  # -> ml.config_schema.Serving
        """The `serving:` block, typed: push waits and how many versions stay loaded."""
        return self.spec.serving

    @property
    def monitoring(self):  # -> ml.config_schema.Monitoring
        """The whole `monitoring:` block, typed (docs/concepts/live-model.md)."""
        return self.spec.monitoring

    @property
    def predictions_folder(self) -> str:
        return self.monitoring.predictions_folder or f"{self.name}_predictions"

    @property
    def ground_truth_key(self) -> list[str]:
        """The columns whose values make a prediction's request id (default: the example key)."""
        return self.monitoring.labels.key or self.example_key

    @property
    def schema_path(self) -> Path:
        return self.folder / "schema.pbtxt"

    @property
    def module_path(self) -> Path:
        return self.folder / "module.py"

    def module(self) -> ModuleType:
        """The pipeline's module file (preprocessing_fn, build_model)."""
        return _load_module(str(self.module_path), f"ml_pipeline_module_{self.name}")

    def module_function(self, name: str, why: str = "") -> Any:
        """Function `name` of the module file; a PipelineError naming the file and function if
        it has none (`why`: what needs it)."""
        function = getattr(self.module(), name, None)
        if not callable(function):
            raise ConfigError(
                f"{self.module_path} defines no function {name}()" + (f" ({why})" if why else ""),
                file=str(self.module_path),
                column=name,
                rule="module-function",
            )
        return function


@functools.cache
def _load_module(path: str, module_name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PipelineError(f"cannot load module file {path}", file=path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# libyaml's C parser where PyYAML has it (10x the pure-Python one: every task process parses
# the DAG file, which loads every pipeline.yaml); same safe constructors either way.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.load(path.read_text(), Loader=_YAML_LOADER)  # noqa: S506 -- a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(
            f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}",
            file=str(path),
            rule="pipeline-yaml",
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: expected a mapping of settings, got {type(raw).__name__}",
            file=str(path),
            rule="pipeline-yaml",
        )
    return raw


def config_problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """`[(dotted key, what is wrong)]` of a pipeline.yaml mapping (ml.config_schema, pydantic)."""
    from pydantic import ValidationError

    from ml.config_schema import PipelineYaml

    try:
        PipelineYaml.model_validate(raw)
    except ValidationError as exc:
        return _problems(exc)
    return []


def _problems(exc) -> list[tuple[str, str]]:  # exc: pydantic.ValidationError
    problems = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"] if p != "[key]")
        message = err["msg"].removeprefix("Value error, ")
        sub = _SUBKEY.match(message) if err["type"] == "value_error" else None
        if key and sub:  # a section's own cross-check: "subkey: what"
            problems.append((f"{key}.{sub[1]}", message[sub.end() :]))
        elif key:
            problems.append((key, message))
        else:  # the cross-checks: "key: what; key: what"
            problems += [tuple(part.split(": ", 1)) for part in message.split("; ")]
    return problems


def check_config(raw: dict[str, Any], path: Path) -> None:
    """One PipelineError naming the file, every wrong key and what is wrong with it."""
    validated(raw, path)


def validated(raw: dict[str, Any], path: Path):  # -> ml.config_schema.PipelineYaml
    """`raw` as the frozen PipelineYaml, or one PipelineError naming the file and every wrong key."""
    from pydantic import ValidationError

    from ml.config_schema import PipelineYaml

    try:
        return PipelineYaml.model_validate(raw)
    except ValidationError as exc:
        problems = _problems(exc)
    listed = "; ".join(f"{key}: {why}" for key, why in problems)
    raise ConfigError(
        f"{path} is invalid: {listed}", file=str(path), column=problems[0][0], rule="pipeline-config"
    )


def available_pipelines() -> list[str]:
    return sorted(p.parent.name for p in PIPELINES_DIR.glob("*/pipeline.yaml"))


def load_all_pipelines() -> tuple[dict[str, PipelineConfig], dict[str, PipelineError]]:
    """Every pipeline folder, loaded: `({name: config}, {name: what is wrong})` (one broken
    folder never hides the others)."""
    loaded, broken = {}, {}
    for name in available_pipelines():
        try:
            loaded[name] = load_pipeline(name)
        except PipelineError as exc:
            broken[name] = exc
    return loaded, broken


@functools.cache
def load_pipeline(name: str) -> PipelineConfig:
    """Load and check `ml/pipelines/<name>/pipeline.yaml`."""
    return load_pipeline_folder(PIPELINES_DIR / name, name)


def load_pipeline_folder(folder: Path, name: str) -> PipelineConfig:
    """Load and check `<folder>/pipeline.yaml` (uncached; `new-pipeline` reads its staged folder)."""
    path = folder / "pipeline.yaml"
    if not path.is_file():
        raise MissingArtifact(
            f"unknown pipeline {name!r}; available: {', '.join(available_pipelines()) or 'none'}",
            file=str(path),
            rule="pipeline-exists",
        )
    raw = _read_yaml(path)
    cfg = PipelineConfig(name=str(raw.get("name", name)), folder=folder, raw=raw)
    cfg.spec  # noqa: B018 -- validated now: a broken pipeline.yaml fails its load, not a later step
    return cfg
