"""`new-pipeline`: a pipeline folder from a CSV, and the CSV split into landing spans.

From one CSV with a timestamp column and a numeric target it writes `ml/pipelines/<name>/`:
- `pipeline.yaml`: every column typed from the data (int, float, string), numeric ranges
  widened from the observed ones, defaults (median / most frequent) where values are missing,
  low-cardinality strings as features and the rest as passthrough columns, the label
  `<target>_high = target > its median` computed by module.py's `label_fn`;
- `module.py`: `label_fn`, a generic `preprocessing_fn` and `build_model` to edit;
- `schema.pbtxt`: TFDV's schema of the whole CSV, curated as the bundled ones are: declared
  integers keep an integer domain (not a bool_domain), columns with missing values may miss;
and lands the rows under `<data_root>/<name>/span=<id>/<file>.csv` + `_SUCCESS`, one folder per
span of the chosen cadence (by the timestamp column, UTC). Nothing is written when a check fails.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ml import config as config_module
from ml.atomic import atomic_dir, atomic_write_text
from ml.cadence import CADENCES
from ml.config import PipelineConfig, config_problems, load_pipeline, load_pipeline_folder
from ml.errors import PipelineError
from ml.roots import Roots
from ml.source_csv import read_source
from ml.spans import landing_name
from ml.timestamps import Parsed, TimestampError, parse_timestamps

NA_TOKENS = ("", "NA", "NaN")  # missing cells (ingest's reader takes these as null too)
LEADING_ZERO = r"^-?0\d"  # a code such as 02134: text, not the number 2134
MAX_CATEGORIES = 50  # a string column with more distinct values is kept as a passthrough column
MAX_KEY_COLUMNS = 3  # columns tried beside the timestamp for a unique example key
ROW_ID = "row_id"  # the column added when no columns make rows unique
TRAIN_SCHEDULE = {"hourly": "@daily", "daily": "0 6 * * 1", "weekly": "0 6 * * 1", "monthly": "0 6 1 * *"}
WINDOW_SPANS = {"hourly": 168, "daily": 14, "weekly": 8, "monthly": 6}


@dataclass
class Column:
    name: str
    type: str  # string | int | float
    nulls: int
    distinct: int
    min: float | None = None
    max: float | None = None
    default: Any = None


def _round(value: float) -> float | int:
    if value == 0 or not math.isfinite(value):
        return 0
    digits = 3 - int(math.floor(math.log10(abs(value))))
    rounded = round(value, max(digits, 0))
    return int(rounded) if float(rounded).is_integer() else rounded


def infer_column(name: str, values: pd.Series) -> Column:
    """The column's type (numbers that are all whole are `int`), range and default, from its text
    cells (blanks and NA_TOKENS are missing). Codes with leading zeros (`02134`) stay strings;
    `true`/`false` are strings (categories); `0`/`1` are ints."""
    missing = values.isna() | values.isin(NA_TOKENS)
    present = values[~missing]
    nulls = int(missing.sum())
    numbers = pd.to_numeric(present, errors="coerce")
    coded = present.astype(str).str.match(LEADING_ZERO).any()
    if len(present) and numbers.notna().all() and not coded:
        whole = bool((numbers % 1 == 0).all())
        lo, hi = float(numbers.min()), float(numbers.max())
        spread = (hi - lo) or abs(hi) or 1.0  # widened: the next spans may go a little further
        low = lo - spread / 2 if lo < 0 else max(0.0, lo - spread / 2)
        column = Column(name, "int" if whole else "float", nulls, int(numbers.nunique()))
        column.min, column.max = _round(math.floor(low)), _round(math.ceil(hi + spread / 2))
        if nulls:
            median = float(numbers.median())
            column.default = int(round(median)) if whole else _round(median)
        return column
    text = present.astype(str)
    column = Column(name, "string", nulls, int(text.nunique()))
    if nulls and len(text):
        column.default = str(text.mode().iloc[0])
    return column


def _need_column(frame: pd.DataFrame, path: Path, column: str, flag: str) -> None:
    if column not in frame.columns:
        raise PipelineError(
            f"{flag} {column!r} is not a column of {path.name} ({', '.join(map(str, frame.columns))})",
            file=str(path),
            column=column,
            rule="scaffold-column",
        )


def timestamps(frame: pd.DataFrame, path: Path, column: str, unit: str | None = None) -> Parsed:
    try:
        return parse_timestamps(frame[column], unit)
    except TimestampError as err:
        raise PipelineError(
            f"timestamp column {column!r} holds {err.value!r} in row {err.row + 2} of {path.name}: {err.why}",
            file=str(path),
            column=column,
            rule="scaffold-timestamp",
        ) from None


def choose_key(frame: pd.DataFrame, timestamp: str) -> tuple[list[str], str]:
    """A unique example key (it places a row in train or eval, and joins labels to predictions)
    and why: the timestamp if unique; else the timestamp plus the fewest columns without blanks
    that make it unique (most distinct first, up to MAX_KEY_COLUMNS); else a `row_id` column is
    added: a hash of the row's cells, numbered within identical rows (the same on a re-run)."""
    if not frame[timestamp].duplicated().any():
        return [timestamp], f"{timestamp!r} is unique"
    repeats = int(frame[timestamp].duplicated(keep=False).sum())
    full = [c for c in frame.columns if c != timestamp and not (frame[c].str.strip() == "").any()]
    candidates = sorted(full, key=lambda c: -frame[c].nunique())
    key = [timestamp]
    for column in candidates[:MAX_KEY_COLUMNS]:
        key.append(column)
        if not frame.duplicated(key).any():
            return key, f"{timestamp!r} repeats ({repeats} rows share a value): {key} is unique"
    row_id = next(n for n in (ROW_ID, f"{ROW_ID}_", f"{ROW_ID}__") if n not in frame.columns)
    cells = frame.astype(str).agg("\x1f".join, axis=1)
    digest = cells.map(lambda text: hashlib.sha1(text.encode()).hexdigest()[:16])
    frame[row_id] = digest + "-" + frame.groupby(digest).cumcount().astype(str)
    return [row_id], f"no columns make rows unique (identical rows?): {row_id!r} added, a hash of each row"


def pipeline_mapping(
    name: str,
    columns: dict[str, Column],
    *,
    timestamp: str,
    target: str,
    cadence: str,
    start: dt.date,
    example_key: list[str] | None = None,
) -> dict[str, Any]:
    label = f"{target}_high"
    features, passthrough = {}, {timestamp: "string", target: columns[target].type}
    for column in columns.values():
        if column.name in (timestamp, target):
            continue
        if column.type == "string" and column.distinct > MAX_CATEGORIES:
            passthrough[column.name] = "string"
            continue
        spec: dict[str, Any] = {"type": column.type}
        for key in ("default", "min", "max"):
            if getattr(column, key) is not None and (key == "default" or column.type != "string"):
                spec[key] = getattr(column, key)
        features[column.name] = spec
    categorical = [n for n, s in features.items() if s["type"] == "string"]
    return {
        "name": name,
        "model_name": name,
        "landing": {"folder": name, "file_glob": "*.csv", "done_marker": "_SUCCESS"},
        "span": {"cadence": cadence, "start": start.isoformat(), "train_schedule": TRAIN_SCHEDULE[cadence]},
        "label": {"name": label, "function": "label_fn", "columns": [target], "max_null_fraction": 0.1},
        "example_key": example_key or [timestamp],
        "split": {"eval_percent": 20},
        "min_rows": 1,
        "features": features,
        "passthrough_columns": passthrough,
        "checks": {
            "great_expectations": {"severity": "block"},
            "schema": {"severity": "block"},
            "drift": {"severity": "warn", "baseline": {"window": 1}, "features": {}},
            "skew": {"severity": "warn", "features": {}},
        },
        "training": {"window_spans": WINDOW_SPANS[cadence], "min_spans": 1, "epochs": 3, "batch_size": 64},
        "evaluation": {
            "slices": [[], *([[categorical[0]]] if categorical else [])],
            "metrics": ["ExampleCount", "AUC", "BinaryAccuracy", "Precision", "Recall"],
            "thresholds": {"auc_lower_bound": 0.55},
        },
    }


YAML_HEADER = """\
# Scaffolded by `python -m ml new-pipeline {name} --from-csv {csv} --timestamp-column {timestamp}
#   --label-column {target} --cadence {cadence}` from {rows} rows. Edit freely, then
# `python -m ml check --pipeline {name}`. {timestamp}: {timestamp_kind}.
# Types, ranges and defaults come from the data (ranges
# widened by half the observed spread). The label is module.py's label_fn ({target} above its
# median {threshold}); change it there. Add drift/skew thresholds once calibrated
# (`python -m ml calibrate-drift --pipeline {name} --from S --to S`).
"""

MODULE = '''\
"""The {name} module file (scaffolded by `python -m ml new-pipeline`): edit it.

- `label_fn(frame)`: the label {label!r} per landed row (0/1, NA when unknown), computed once at
  ingest from `label.columns` of pipeline.yaml; use several columns if the label needs them.
- `preprocessing_fn(inputs)`: TFT over the features of pipeline.yaml (z-scored numbers,
  vocabularies for strings); the label is passed through by the core.
- `build_model(tft_output, label)`: a small Keras 2 (tf_keras) network, one sigmoid output.
"""

from __future__ import annotations

NUMERIC = {numeric!r}
CATEGORICAL = {categorical!r}
TARGET, THRESHOLD = {target!r}, {threshold!r}
OOV_BUCKETS = 1


def label_fn(frame):
    target = frame[TARGET]
    return (target > THRESHOLD).astype("Int64").where(target.notna())


def preprocessing_fn(inputs: dict) -> dict:
    import tensorflow as tf
    import tensorflow_transform as tft

    out = {{f"{{name}}_xf": tft.scale_to_z_score(tf.cast(inputs[name], tf.float32)) for name in NUMERIC}}
    for name in CATEGORICAL:
        out[f"{{name}}_xf"] = tft.compute_and_apply_vocabulary(
            inputs[name], num_oov_buckets=OOV_BUCKETS, vocab_filename=name
        )
    return out


def build_model(tft_output, label: str):
    from tensorflow_transform.keras_lib import tf_keras as keras

    inputs, parts = {{}}, []
    for name, spec in sorted(tft_output.transformed_feature_spec().items()):
        if name == label:
            continue
        inputs[name] = keras.Input(shape=(), name=name, dtype=spec.dtype)
        raw = name.removesuffix("_xf")
        if raw in CATEGORICAL:
            size = tft_output.vocabulary_size_by_name(raw) + OOV_BUCKETS
            parts.append(keras.layers.Embedding(size, 4, name=f"{{raw}}_emb")(inputs[name]))
        else:
            parts.append(keras.layers.Reshape((1,), name=f"{{raw}}_col")(inputs[name]))
    x = keras.layers.Concatenate()(parts) if len(parts) > 1 else parts[0]
    x = keras.layers.Dense(16, activation="relu")(x)
    out = keras.layers.Dense(1, activation="sigmoid", name="probability")(x)
    model = keras.Model(inputs, out)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        loss="binary_crossentropy",
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="binary_accuracy")],
    )
    return model
'''

SCHEMA_HEADER = """\
# Scaffolded by `python -m ml new-pipeline`: TFDV's schema of the whole CSV ({rows} rows), with
# declared integers as integers (no bool_domain) and the columns that had missing values free to
# miss. String domains hold the values seen; curate them (add the values to expect).
"""


def write_pipeline(
    name: str,
    csv: Path,
    *,
    timestamp: str,
    target: str,
    cadence: str,
    roots: Roots,
    timestamp_unit: str | None = None,
) -> dict[str, Any]:
    """Check the CSV, then write the pipeline folder and the landing spans, both staged in temp
    folders and renamed into place only when everything succeeded: a failure leaves
    `ml/pipelines/` and the data root as they were."""
    folder = config_module.PIPELINES_DIR / name
    if not name.isidentifier() or folder.exists():
        why = "exists already" if folder.exists() else "is not a valid name (letters, digits, _)"
        raise PipelineError(f"pipeline folder {folder} {why}", file=str(folder), rule="scaffold-name")
    source = read_source(csv)
    frame = source.frame
    timestamp = source.renamed.get(timestamp, timestamp)  # the CSV's own name works too
    target = source.renamed.get(target, target)
    _need_column(frame, csv, timestamp, "--timestamp-column")
    _need_column(frame, csv, target, "--label-column")
    key, key_why = choose_key(frame, timestamp)  # may add the row_id column
    columns = {str(c): infer_column(str(c), frame[c]) for c in frame.columns}
    if columns[target].type == "string":
        raise PipelineError(
            f"--label-column {target!r} must be numeric (its values are text)",
            file=str(csv),
            column=target,
            rule="scaffold-column",
        )
    parsed = timestamps(frame, csv, timestamp, timestamp_unit)
    kind = CADENCES[cadence]
    spans = parsed.stamps.map(lambda t: kind.span_of(t.to_pydatetime()))
    start = parsed.stamps.min().date()
    raw = pipeline_mapping(
        name, columns, timestamp=timestamp, target=target, cadence=cadence, start=start, example_key=key
    )
    problems = config_problems(raw)
    if problems:  # e.g. a column named like the label
        raise PipelineError(
            "the scaffolded pipeline.yaml would be invalid: " + "; ".join(f"{k}: {w}" for k, w in problems),
            file=str(csv),
            column=problems[0][0],
            rule="scaffold-config",
        )
    landing_root = roots.data / raw["landing"]["folder"]
    if landing_root.exists():
        raise PipelineError(
            f"landing folder {landing_root} exists already: move it away or choose another name",
            file=str(landing_root),
            rule="scaffold-landing",
        )
    threshold = _round(float(pd.to_numeric(frame[target], errors="coerce").median()))
    features = raw["features"]
    numeric = [n for n, s in features.items() if s["type"] != "string"]
    categorical = [n for n, s in features.items() if s["type"] == "string"]
    header = YAML_HEADER.format(
        name=name,
        csv=csv.name,
        timestamp=timestamp,
        target=target,
        cadence=cadence,
        rows=len(frame),
        threshold=threshold,
        timestamp_kind=parsed.kind,
    ) + "".join(f"# column {new!r} is {old!r} in the CSV\n" for old, new in source.renamed.items())
    header += "".join(f"# column {c!r} of the CSV left out: {why}\n" for c, why in source.dropped.items())
    header += f"# example_key: {key_why}\n"
    with atomic_dir(folder, replace=False) as staged, atomic_dir(landing_root, replace=False) as landing:
        atomic_write_text(staged / "pipeline.yaml", header + yaml.safe_dump(raw, sort_keys=False))
        atomic_write_text(
            staged / "module.py",
            MODULE.format(
                name=name,
                label=raw["label"]["name"],
                numeric=tuple(numeric),
                categorical=tuple(categorical),
                target=target,
                threshold=threshold,
            ),
        )
        atomic_write_text(staged / "schema.pbtxt", "")  # written below, from the landed spans
        cfg = load_pipeline_folder(staged, name)
        landed = land(cfg, landing, frame, spans, f"{name}.csv")
        write_schema(cfg, landing, landed, len(frame), columns)
    load_pipeline.cache_clear()
    cfg = load_pipeline(name)
    return {
        "pipeline": name,
        "folder": str(folder),
        "cadence": cadence,
        "rows": int(len(frame)),
        "timestamp": f"{timestamp}: {parsed.kind}",
        "example_key": key,
        "example_key_why": key_why,
        "files": [str(f) for f in source.files],
        "separator": source.separator,
        "renamed_columns": source.renamed,
        "dropped_columns": source.dropped,
        "features": list(features),
        "passthrough_columns": list(raw["passthrough_columns"]),
        "label": f"{raw['label']['name']} = {target} > {threshold} (module.py label_fn)",
        "spans": sorted(landed),
        "landing": str(roots.data / cfg.landing_folder),
    }


def land(cfg: PipelineConfig, landing: Path, frame: pd.DataFrame, spans: pd.Series, file: str) -> list[str]:
    """One folder per span under `landing` (rows in file order, cells verbatim), the done marker
    written last."""
    for span, rows in frame.groupby(spans.to_numpy(), sort=True):
        folder = landing / landing_name(cfg, str(span))
        atomic_write_text(folder / file, rows.to_csv(index=False))
        (folder / cfg.done_marker).write_text("")
    return sorted(str(s) for s in spans.unique())


def write_schema(
    cfg: PipelineConfig, landing: Path, spans: list[str], rows: int, columns: dict[str, Column]
) -> None:
    from ml.data.raw import span_files
    from ml.data.schema import infer_schema
    from ml.data.stats import compute_statistics, span_columns

    files = [f for s in spans for f in span_files(cfg, landing / landing_name(cfg, s), s)]
    with tempfile.TemporaryDirectory(prefix="ml-scaffold-") as tmp:
        stats = compute_statistics(files, span_columns(cfg), Path(tmp) / "stats.tfrecord")
    schema = infer_schema(cfg, stats)
    for feature in schema.feature:
        if columns[feature.name].nulls:
            feature.presence.ClearField("min_fraction")
    from google.protobuf import text_format

    atomic_write_text(cfg.schema_path, SCHEMA_HEADER.format(rows=rows) + text_format.MessageToString(schema))
