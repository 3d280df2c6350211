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
The CSV is read in chunks, three times at most (`ml.scaffold.scan`): a file larger than memory
can be scaffolded.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ml import config as config_module
from ml.atomic import atomic_dir, atomic_write_text
from ml.cadence import CADENCES
from ml.config import PipelineConfig, config_problems, load_pipeline, load_pipeline_folder
from ml.errors import PipelineError
from ml.roots import Roots
from ml.scaffold.profile import NA_TOKENS, Column, Profile, infer_column, rounded
from ml.scaffold.scan import choose_key, land, scan
from ml.scaffold.source import SourceCsv, open_source
from ml.spans import landing_name

MAX_CATEGORIES = 50  # a string column with more distinct values is kept as a passthrough column
TRAIN_SCHEDULE = {"hourly": "@daily", "daily": "0 6 * * 1", "weekly": "0 6 * * 1", "monthly": "0 6 1 * *"}
WINDOW_SPANS = {"hourly": 168, "daily": 14, "weekly": 8, "monthly": 6}


def _need_column(source: SourceCsv, path: Path, column: str, flag: str) -> None:
    if column not in source.columns:
        raise PipelineError(
            f"{flag} {column!r} is not a column of {path.name} ({', '.join(source.columns)})",
            file=str(path),
            column=column,
            rule="scaffold-column",
        )


@dataclass(frozen=True)
class LabelRule:
    """How the scaffolded label_fn turns the target column into 0/1."""

    target: str
    threshold: float | int | None = None  # numeric: target > threshold
    positive: tuple[str, ...] = ()  # text: target in positive
    why: str = ""

    @property
    def text(self) -> str:
        if self.positive:
            return f"{self.target} in {{{', '.join(repr(v) for v in self.positive)}}}"
        return f"{self.target} > {self.threshold}"

    def values(self, cells: pd.Series) -> pd.Series:
        """The label of each cell (NA where the cell is missing)."""
        missing = cells.isna() | cells.isin(NA_TOKENS)
        if self.positive:
            label = cells.astype(str).isin(self.positive).astype("Int64")
        else:
            label = (pd.to_numeric(cells, errors="coerce") > self.threshold).astype("Int64")
        return label.mask(missing)


def label_rule(profile: Profile, column: Column, positive: list[str] | None, path: Path) -> LabelRule:
    """The label of the target: above its median (a number), or some of its values (text: two
    values, the rarer is positive unless --positive says; more: --positive is required)."""
    target = column.name

    def refuse(message: str) -> PipelineError:
        return PipelineError(message, file=str(path), column=target, rule="scaffold-label")

    if column.type != "string":
        if positive:
            raise refuse(
                f"--positive is for a text label column; {target!r} holds numbers (label: above its median)"
            )
        median = rounded(profile.median(target))
        return LabelRule(target, threshold=median, why=f"{target} above its median {median}")
    seen = profile.columns[target].values
    values = sorted(seen) if seen is not None else []
    listed = ", ".join(values[:20]) if values else "too many to list"
    if positive:
        unknown = [v for v in positive if v not in values]
        if unknown:
            raise refuse(f"--positive {', '.join(unknown)}: not a value of {target!r} ({listed})")
        return LabelRule(target, positive=tuple(positive), why=f"--positive {','.join(positive)}")
    if len(values) == 2:
        counts: dict[str, int] = profile.present(target).value_counts().to_dict()
        rarer = min(values, key=lambda v: (counts.get(v, 0), [-ord(c) for c in v]))
        return LabelRule(
            target,
            positive=(rarer,),
            why=f"{rarer!r}, the rarer of {target!r}'s two values (--positive to choose)",
        )
    example = values[0] if values else "VALUE"
    raise refuse(
        f"--label-column {target!r} holds {len(values) or 'many'} text values ({listed}): a binary label "
        f"needs to know which of them count as 1: add --positive VALUE[,VALUE...], e.g. --positive {example}"
    )


LEAK_PURITY = 0.97  # a text column whose value alone gives the label for this share of rows
LEAK_AUC = 0.99  # a numeric column that alone separates the label this well


def determines(cells: pd.Series, label: pd.Series, kind: str) -> str | None:
    """Why a column gives the label away (None: it does not), on the scaffold's sample."""
    known = label.notna() & ~(cells.isna() | cells.isin(NA_TOKENS))
    y, x = label[known].astype(int), cells[known]
    if len(y) < 20 or y.nunique() < 2:
        return None
    if kind == "string":
        rates = y.groupby(x.astype(str)).agg(["mean", "size"])
        purity = float((np.maximum(rates["mean"], 1 - rates["mean"]) * rates["size"]).sum() / len(y))
        base = max(float(y.mean()), 1 - float(y.mean()))
        if purity >= LEAK_PURITY and purity > base + 0.02:
            return f"its value alone gives the label for {purity:.0%} of rows"
        return None
    from ml.monitoring.estimate import auc

    separation = auc(pd.to_numeric(x).to_numpy(dtype=float), y.to_numpy())
    if separation is not None and max(separation, 1 - separation) >= LEAK_AUC:
        return f"it alone separates the label (AUC {max(separation, 1 - separation):.3f})"
    return None


def min_slice_size(rows: int, spans: int, window: int, eval_percent: int) -> int:
    """5 % of a training window's eval rows, at least 5 and at most 100: a slice smaller than
    that is reported as too small, never judged."""
    eval_rows = rows / max(spans, 1) * min(window, max(spans, 1)) * eval_percent / 100
    return int(min(100, max(5, round(0.05 * eval_rows))))


def pipeline_mapping(
    name: str,
    columns: dict[str, Column],
    *,
    timestamp: str,
    target: str,
    cadence: str,
    start: dt.date,
    example_key: list[str] | None = None,
    left_out: dict[str, str] | None = None,
    label: str | None = None,
    slice_size: int = 1,
) -> dict[str, Any]:
    label = label or f"{target}_high"
    features, passthrough = {}, {timestamp: "string", target: columns[target].type}
    for column in columns.values():
        if column.name in (timestamp, target):
            continue
        if column.name in (left_out or {}):
            passthrough[column.name] = column.type
            continue
        if column.type == "string" and column.distinct > MAX_CATEGORIES:
            passthrough[column.name] = "string"
            continue
        spec: dict[str, Any] = {"type": column.type}
        for key in ("default", "max_null_fraction", "min", "max"):
            if getattr(column, key) is not None and (
                key in ("default", "max_null_fraction") or column.type != "string"
            ):
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
            "min_slice_size": slice_size,
        },
    }


YAML_HEADER = """\
# Scaffolded by `python -m ml new-pipeline {name} --from-csv {csv} --timestamp-column {timestamp}
#   --label-column {target} --cadence {cadence}{flags}` from {rows} rows. Edit freely, then
# `python -m ml check --pipeline {name}`. {timestamp}: {timestamp_kind}.
# Types, ranges and defaults come from the data (ranges
# widened by half the observed spread). The label is module.py's label_fn ({rule}: {why});
# change it there and in label.columns. Add drift/skew thresholds once calibrated
# (`python -m ml calibrate-drift --pipeline {name} --from S --to S`).
"""

MODULE = '''\
"""The {name} module file (scaffolded by `python -m ml new-pipeline`): edit it.

- `label_fn(frame)`: the label {label!r} = {rule} per landed row (0/1, NA when unknown),
  computed once at ingest from `label.columns` of pipeline.yaml; use several columns if the label
  needs them (list them there, and never as features: the model would see its own answer).
- `preprocessing_fn(inputs)`: TFT over the features of pipeline.yaml (z-scored numbers,
  vocabularies for strings); the label is passed through by the core.
- `build_model(tft_output, label)`: a small Keras 2 (tf_keras) network, one sigmoid output.
"""

from __future__ import annotations

NUMERIC = {numeric!r}
CATEGORICAL = {categorical!r}
{rule_constants}
OOV_BUCKETS = 1


def label_fn(frame):
    target = frame[TARGET]
    return ({rule_expression}).astype("Int64").where(target.notna())


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
# miss (in a whole span too; pipeline.yaml's max_null_fraction bounds how much). String domains
# hold the values seen; curate them (add the values to expect).
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
    positive: list[str] | None = None,
    serving_log: bool = False,
) -> dict[str, Any]:
    """Check the CSV, then write the pipeline folder and the landing spans (and, with
    `serving_log`, each span's serving requests), staged in temp folders and renamed into place
    only when everything succeeded: a failure leaves `ml/pipelines/` and the data root as they were."""
    folder = config_module.PIPELINES_DIR / name
    if not name.isidentifier() or folder.exists():
        why = "exists already" if folder.exists() else "is not a valid name (letters, digits, _)"
        raise PipelineError(f"pipeline folder {folder} {why}", file=str(folder), rule="scaffold-name")
    source = open_source(csv)
    timestamp = source.renamed.get(timestamp, timestamp)  # the CSV's own name works too
    target = source.renamed.get(target, target)
    _need_column(source, csv, timestamp, "--timestamp-column")
    _need_column(source, csv, target, "--label-column")
    found = scan(source, timestamp, cadence, timestamp_unit)  # pass 1
    profile = found.profile
    columns = {c: infer_column(profile, c) for c in found.kept}
    rule = label_rule(profile, columns[target], positive, csv)
    labels = rule.values(profile.sample[target])
    left_out = {
        c.name: f"gives the label away: {leak} (label leakage)"
        for c in columns.values()
        if c.name not in (timestamp, target)
        and (leak := determines(profile.sample[c.name], labels, c.type)) is not None
    }
    choice = choose_key(source, found)  # pass 2, when the timestamp repeats
    if choice.row_id:
        columns[choice.row_id] = Column(choice.row_id, "string", 0, profile.rows)
    raw = pipeline_mapping(
        name,
        columns,
        timestamp=timestamp,
        target=target,
        cadence=cadence,
        start=CADENCES[cadence].start(min(found.spans)).date(),  # the first span's, not its first row's
        example_key=choice.key,
        left_out=left_out,
        label=label_name(rule),
        slice_size=min_slice_size(profile.rows, len(found.spans), WINDOW_SPANS[cadence], 20),
    )
    if serving_log:
        raw["landing"]["serving_log_folder"] = f"{name}_serving"
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
    features = raw["features"]
    numeric = [n for n, s in features.items() if s["type"] != "string"]
    categorical = [n for n, s in features.items() if s["type"] == "string"]
    header = YAML_HEADER.format(
        name=name,
        csv=csv.name,
        timestamp=timestamp,
        target=target,
        cadence=cadence,
        rows=profile.rows,
        rule=rule.text,
        why=rule.why,
        timestamp_kind=found.kind,
        flags=(f" --positive {','.join(positive)}" if positive else "")
        + (" --serving-log" if serving_log else ""),
    )
    dropped = {c: "empty in every row" for c in found.dropped}
    renamed = {old: new for old, new in source.renamed.items() if new not in dropped}
    header += "".join(f"# column {new!r} is {old!r} in the CSV\n" for old, new in renamed.items())
    header += "".join(f"# column {c!r} of the CSV left out: {why}\n" for c, why in dropped.items())
    header += "".join(f"# column {c!r} kept out of the features: {why}\n" for c, why in left_out.items())
    header += f"# example_key: {choice.why}\n"
    with atomic_dir(folder, replace=False) as staged, atomic_dir(landing_root, replace=False) as landing:
        atomic_write_text(staged / "pipeline.yaml", header + yaml.safe_dump(raw, sort_keys=False))
        atomic_write_text(
            staged / "module.py",
            MODULE.format(
                name=name,
                label=raw["label"]["name"],
                rule=rule.text,
                numeric=tuple(numeric),
                categorical=tuple(categorical),
                rule_constants=(
                    f"TARGET, POSITIVE = {target!r}, {rule.positive!r}  # the values that count as 1"
                    if rule.positive
                    else f"TARGET, THRESHOLD = {target!r}, {rule.threshold!r}"
                ),
                rule_expression="target.isin(POSITIVE)" if rule.positive else "target > THRESHOLD",
            ),
        )
        atomic_write_text(staged / "schema.pbtxt", "")  # written below, from the landed spans
        cfg = load_pipeline_folder(staged, name)
        folder_of = lambda span: landing / landing_name(cfg, span)  # noqa: E731
        land(source, found, choice, folder_of, f"{name}.csv", cfg.done_marker)  # pass 3
        write_schema(cfg, landing, sorted(found.spans), profile.rows, columns)
        if serving_log:
            with atomic_dir(roots.data / cfg.serving_log_folder, replace=False) as requests:
                write_serving_requests(cfg, landing, requests, sorted(found.spans), f"{name}.csv")
    load_pipeline.cache_clear()
    cfg = load_pipeline(name)
    return {
        "pipeline": name,
        "folder": str(folder),
        "cadence": cadence,
        "rows": profile.rows,
        "timestamp": f"{timestamp}: {found.kind}",
        "example_key": choice.key,
        "example_key_why": choice.why,
        "files": [str(f) for f in source.files],
        "separator": source.separator,
        "renamed_columns": renamed,
        "dropped_columns": dropped,
        "features": list(features),
        "passthrough_columns": list(raw["passthrough_columns"]),
        "label": f"{raw['label']['name']} = {rule.text} (module.py label_fn; {rule.why})",
        "left_out": left_out,
        "min_slice_size": raw["evaluation"]["min_slice_size"],
        "serving_log": str(roots.data / cfg.serving_log_folder) if serving_log else None,
        "spans": sorted(found.spans),
        "landing": str(roots.data / cfg.landing_folder),
    }


def label_name(rule: LabelRule) -> str:
    if not rule.positive:
        return f"{rule.target}_high"
    word = "".join(c if c.isalnum() else "_" for c in rule.positive[0].lower()).strip("_")
    return (
        f"{rule.target}_{word}"
        if len(rule.positive) == 1 and word.isidentifier()
        else f"{rule.target}_positive"
    )


REQUEST_FILE = "requests.csv"


def write_serving_requests(
    cfg: PipelineConfig, landing: Path, out: Path, spans: list[str], file: str
) -> None:
    """Each landed span's rows as a serving system would log their requests: the example key and
    the landed features, no label (`<data_root>/<name>_serving/span=<id>/requests.csv`)."""
    columns = [*dict.fromkeys([*cfg.ground_truth_key, *(f.name for f in cfg.landed_features)])]
    for span in spans:
        rows = pd.read_csv(landing / landing_name(cfg, span) / file, dtype=str, keep_default_na=False)
        folder = out / landing_name(cfg, span)
        folder.mkdir(parents=True, exist_ok=True)
        rows[[c for c in columns if c in rows]].to_csv(folder / REQUEST_FILE, index=False)


def write_schema(
    cfg: PipelineConfig, landing: Path, spans: list[str], rows: int, columns: dict[str, Column]
) -> None:
    from ml.data.raw import span_files
    from ml.data.schema import infer_schema
    from ml.data.stats import compute_statistics, span_columns

    files = [f for s in spans for f in span_files(cfg, landing / landing_name(cfg, s), s)]
    described = {**cfg.raw_column_types, **span_columns(cfg)}  # every landed column: a label change
    with tempfile.TemporaryDirectory(prefix="ml-scaffold-") as tmp:  # to another one needs no edit here
        stats = compute_statistics(files, described, Path(tmp) / "statistics.tfrecord")
    schema = infer_schema(cfg, stats)
    for feature in schema.feature:
        if columns[feature.name].nulls:  # may miss, in some rows or in a whole span (a sensor out for
            feature.presence.ClearField("min_fraction")  # a day): max_null_fraction bounds it
            feature.presence.ClearField("min_count")
    from google.protobuf import text_format

    atomic_write_text(cfg.schema_path, SCHEMA_HEADER.format(rows=rows) + text_format.MessageToString(schema))
