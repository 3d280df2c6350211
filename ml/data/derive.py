"""The pipeline module's derived raw features and label, applied once, at ingest.

- Derived features: features marked `derived: true` in pipeline.yaml are computed by the
  module's `derive_features(frame) -> {name: values}` from the landed columns.
- The label: `label.source_column > label.threshold` (a rule), or `label.function` of the
  module (e.g. `label_fn(frame) -> 0/1 per row, NA when unknown`) over `label.columns`.

Each function gets a frame holding only the columns it may read (the declared landed columns;
for the label only `label.columns`), so a column the config does not declare fails here with one
message naming the function and the column, instead of a KeyError traceback later. The label
goes into the examples, so training, evaluation and serving all see this one computation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ml.config import PipelineConfig
from ml.errors import ConfigError, DataError, PipelineError
from ml.roots import Roots

DERIVE_FUNCTION = "derive_features"


def call_module(
    cfg: PipelineConfig, name: str, why: str, frame: pd.DataFrame, allowed: list[str], *, span: str, file: str
) -> Any:
    """`module.<name>(frame[allowed])`, every failure one PipelineError naming function and column."""
    function = cfg.module_function(name, why)
    where = {"span": span, "file": file, "rule": "module-function"}
    try:
        return function(frame[allowed].copy())
    except KeyError as exc:
        column = exc.args[0] if exc.args else "?"
        raise PipelineError(
            f"{name}() in {cfg.module_path.name} reads column {column!r}, which it may not: it gets "
            f"{', '.join(allowed)} ({why})",
            column=str(column),
            **where,
        ) from None
    except Exception as exc:  # the user's code: report it in one line, not a traceback
        raise PipelineError(
            f"{name}() in {cfg.module_path.name} failed: {type(exc).__name__}: {exc}", column=name, **where
        ) from None


def add_derived(cfg: PipelineConfig, raw: pd.DataFrame, span: str, file: str) -> pd.DataFrame:
    """`raw` plus every derived feature, typed as declared."""
    wanted = [f.name for f in cfg.derived_features]
    if not wanted:
        return raw
    why = f"derived features {', '.join(wanted)}; it gets the landed columns"
    out = call_module(cfg, DERIVE_FUNCTION, why, raw, list(cfg.raw_column_types), span=span, file=file)
    out = dict(out) if isinstance(out, dict) else dict(pd.DataFrame(out).items())
    missing, extra = [n for n in wanted if n not in out], sorted(set(out) - set(wanted))
    if missing or extra:
        said = (f"misses {', '.join(missing)}" if missing else "") + (
            f"{'; ' if missing else ''}returns undeclared {', '.join(extra)}" if extra else ""
        )
        raise ConfigError(
            f"{DERIVE_FUNCTION}() in {cfg.module_path.name} {said} "
            f"(pipeline.yaml derived: {', '.join(wanted)})",
            span=span,
            file=file,
            column=(missing or extra)[0],
            rule="derived-features",
        )
    frame = raw.copy()
    for feature in cfg.derived_features:
        values = pd.Series(out[feature.name]).reset_index(drop=True)
        if len(values) != len(raw):
            raise ConfigError(
                f"{DERIVE_FUNCTION}() returned {len(values)} value(s) of {feature.name!r} "
                f"for {len(raw)} rows",
                span=span,
                file=file,
                column=feature.name,
                rule="derived-features",
            )
        numbers = values if feature.type == "string" else pd.to_numeric(values, errors="coerce")
        if feature.type != "string" and (bad := numbers.isna() & values.notna()).any():
            raise PipelineError(
                f"{DERIVE_FUNCTION}() gave {feature.name!r} the non-{feature.type} value "
                f"{values[bad].iloc[0]!r}",
                span=span,
                file=file,
                column=feature.name,
                rule=f"type-{feature.type}",
            )
        frame[feature.name] = numbers.astype(object if feature.type == "string" else "float64")
    return frame


def label_values(cfg: PipelineConfig, frame: pd.DataFrame, span: str, file: str) -> pd.Series:
    """The label of every row as nullable Int64 0/1 (NA where it cannot be computed)."""
    if cfg.label_function is None:
        source = frame[cfg.label_source]
        return (source > cfg.label_threshold).astype("Int64").where(source.notna(), pd.NA)
    name = cfg.label_function
    why = f"the label {cfg.label!r}; it gets label.columns"
    out = call_module(cfg, name, why, frame, cfg.label_columns, span=span, file=file)
    values = pd.Series(out).reset_index(drop=True)
    if len(values) != len(frame):
        raise ConfigError(
            f"{name}() returned {len(values)} label(s) for {len(frame)} rows",
            span=span,
            file=file,
            column=cfg.label,
            rule="label-function",
        )
    numbers = pd.to_numeric(values.astype(object).where(values.notna(), None), errors="coerce")
    bad = values.notna() & ~numbers.isin([0, 1])
    if bad.any():
        raise ConfigError(
            f"{name}() must return 0/1 (or True/False, NA when unknown) per row; row {int(bad.idxmax()) + 2} "
            f"got {values[bad].iloc[0]!r}",
            span=span,
            file=file,
            column=cfg.label,
            rule="label-function",
        )
    return numbers.astype("Int64")


def sample_frame(cfg: PipelineConfig, rows: int = 4) -> pd.DataFrame:
    """A few typed rows of every landed column (a feature's default or range where declared)."""
    specs = {f.name: f for f in cfg.landed_features}
    columns = {}
    for name, typ in cfg.raw_column_types.items():
        spec = specs.get(name)
        value: Any = spec.default if spec is not None and spec.default is not None else None
        if value is None and spec is not None and spec.min is not None:
            value = spec.min
        if value is None:
            value = {"string": "a", "int": 1, "float": 1.0}[typ]
        dtype = {"string": object, "int": "Int64", "float": "float64"}[typ]
        columns[name] = pd.Series([value] * rows, dtype=dtype)
    return pd.DataFrame(columns)


def _perturbed(column: pd.Series) -> pd.Series:
    """The same column's values on other rows (rolled by one), or, when they are all alike,
    other values of the same type: text gets a suffix, numbers are shifted and scaled."""
    if column.nunique(dropna=False) > 1:
        return pd.Series(np.roll(column.to_numpy(), 1), index=column.index, dtype=column.dtype)
    if column.dtype == object or str(column.dtype) == "string":
        return column.astype("string") + "_other"
    return column * 2 + 7


def leak_sample(cfg: PipelineConfig, roots: Roots | None, rows: int = 200) -> pd.DataFrame:
    """Rows to run the module on: the first landed span's (real values, so a rule on a
    particular value is exercised), else a few synthetic rows (ml.data.derive.sample_frame)."""
    from ml.data.raw import read_raw_span
    from ml.spans import SpanPaths

    if roots is not None:
        paths = SpanPaths(cfg, roots)
        for span in paths.landed_spans()[:1]:
            try:
                return (
                    read_raw_span(cfg, paths.landing_dir(span), span).frame.head(rows).reset_index(drop=True)
                )
            except PipelineError:
                break
    return sample_frame(cfg)


def label_leaks(cfg: PipelineConfig, roots: Roots | None = None) -> list[str]:
    """The derived features that change when only the label's source columns change: computed
    from the label (leakage). Found by running derive_features twice on the same rows, the
    second time with the label's columns taken from other rows."""
    if not cfg.derived_features or not cfg.label_columns:
        return []
    where = {"span": "sample", "file": str(cfg.module_path)}
    frame = leak_sample(cfg, roots)
    other = frame.copy()
    for column in cfg.label_columns:
        other[column] = _perturbed(other[column])
    try:
        before, after = add_derived(cfg, frame, **where), add_derived(cfg, other, **where)
    except PipelineError:
        return []  # a derive_features that cannot take other label values reads them anyway
    names = [f.name for f in cfg.derived_features]
    return [n for n in names if not before[n].astype(str).equals(after[n].astype(str))]


def check_module_columns(cfg: PipelineConfig, roots: Roots | None = None) -> list[str]:
    """Run the label function and derive_features on sample rows: a column they read that the
    config does not give them fails here (`ml check`), not at the first ingest. Returns what ran."""
    frame = sample_frame(cfg)
    where = {"span": "sample", "file": str(cfg.module_path)}
    ran = []
    if cfg.derived_features:
        frame = add_derived(cfg, frame, **where)
        ran.append(f"{DERIVE_FUNCTION}: {', '.join(f.name for f in cfg.derived_features)}")
    if cfg.label_function:
        label_values(cfg, frame, **where)
        ran.append(f"{cfg.label_function}: {cfg.label} from {', '.join(cfg.label_columns)}")
    leaks = label_leaks(cfg, roots)
    if leaks:
        raise DataError(
            f"derived feature{'s' if len(leaks) > 1 else ''} {', '.join(leaks)} of {cfg.module_path.name} "
            f"change{'' if len(leaks) > 1 else 's'} with the label's source column(s) "
            f"{', '.join(cfg.label_columns)}: the model would be fed its own answer (label leakage); "
            "derive them from other columns, or drop them",
            file=str(cfg.module_path),
            column=leaks[0],
            rule="label-leakage",
        )
    ran.append(f"no derived feature reads the label's source ({', '.join(cfg.label_columns)})")
    return ran
