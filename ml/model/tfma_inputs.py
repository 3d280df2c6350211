"""The eval rows as TFMA reads them when every model's scores are computed beforehand.

`evaluate` scores the raw eval examples once per model, in batches, through each SavedModel's
`serving_default` (the signature TF Serving answers and TFMA itself would call), then runs TFMA
model-agnostically (TFMA's "pre-calculated predictions": one `ModelSpec` per model with its
`prediction_key`, the served model still `is_baseline`). The examples TFMA reads hold only the
label, the slice columns and one score per model, so TFMA neither loads a SavedModel nor splits
every raw feature of every example.

A single-column slice is asked of TFMA by key (`feature_keys`, cheap to test per example), and
a value whose slice is smaller than `min_slice_size` is left out of these examples: TFMA never
computes a too-small slice (it would record every threshold as failed on it, see
ml.model.evaluate.computed_slices), and the slice is still reported "too small" from `sizes`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ml.config import PipelineConfig
from ml.data.examples import serialize_examples
from ml.model.slices import OVERALL
from ml.tfrecord import read_tfrecords, write_tfrecords

SCORE_PREFIX = "__score_"  # never a pipeline column (config names are identifiers without it)


def prediction_key(model: str) -> str:
    """The feature holding `model`'s score in the scored examples."""
    return f"{SCORE_PREFIX}{model}"


def single_columns(cfg: PipelineConfig) -> list[str]:
    """The columns sliced alone (`[carrier]`): asked of TFMA by key."""
    return list(dict.fromkeys(keys[0] for keys in cfg.eval_sliced if len(keys) == 1))


def crossed_columns(cfg: PipelineConfig) -> list[str]:
    """The columns of crossed slices (`[carrier, origin]`): asked of TFMA by value."""
    return list(dict.fromkeys(c for keys in cfg.eval_sliced if len(keys) > 1 for c in keys))


def _parse_columns(records: list[bytes], types: dict[str, str]) -> dict[str, list]:
    """`{column: first value per record (None where missing)}`, parsed in batch by TensorFlow
    (strings as text): only the columns asked for, never the whole example in Python."""
    import tensorflow as tf

    dtypes = {"string": tf.string, "int": tf.int64, "float": tf.float32}
    spec = {name: tf.io.VarLenFeature(dtypes[kind]) for name, kind in types.items()}
    parsed = tf.io.parse_example(tf.constant(records), spec) if records else {}
    columns = {}
    for name, kind in types.items():
        values: list = [None] * len(records)
        if records:
            sparse = parsed[name]
            rows, firsts = np.unique(sparse.indices.numpy()[:, 0], return_index=True)
            picked = sparse.values.numpy()[firsts]
            for row, value in zip(rows.tolist(), picked.tolist(), strict=True):
                values[row] = value.decode() if kind == "string" else value
        columns[name] = values
    return columns


def _text(value) -> str:
    return value if isinstance(value, str) else str(value)


@dataclass
class EvalRows:
    """The raw eval examples of `files`, read once: their bytes and span, the label, the slice
    columns and their sizes (as ml.model.slices names them), and each model's scores once
    computed (`score`)."""

    records: list[bytes]
    spans: list[str]
    columns: dict[str, list]
    sizes: dict[str, int]
    label: str
    scores: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def read(cls, cfg: PipelineConfig, files: list[Path]) -> EvalRows:
        pairs = [(span_of_file(f), r) for f in files for r in read_tfrecords(f)]
        records = [r for _, r in pairs]
        wanted = dict.fromkeys([*single_columns(cfg), *crossed_columns(cfg)])
        types = {cfg.label: "int"} | {c: cfg.feature(c).type for c in wanted if c != cfg.label}
        columns = _parse_columns(records, types)
        sizes = _slice_sizes(columns, cfg.eval_sliced, len(records))
        return cls(records, [span for span, _ in pairs], columns, sizes, cfg.label)

    def column(self, name: str, kind: str) -> list:
        """One more single-valued column (`kind`: string | int | float), parsed once."""
        if name not in self.columns:
            self.columns.update(_parse_columns(self.records, {name: kind}))
        return self.columns[name]

    @property
    def labels(self) -> list[int]:
        return [int(v) if v is not None else 0 for v in self.columns[self.label]]

    def label_counts(self) -> tuple[int, int]:
        """(examples, positive labels): one class makes AUC undefined."""
        return len(self.records), sum(v == 1 for v in self.labels)

    def score(self, models: dict) -> dict[str, np.ndarray]:
        """`{model name: one score per example}` through each model's `serving_default`
        (`models`: ml.model.predict.ServingModel by name), kept in `scores`."""
        for name, model in models.items():
            if name not in self.scores:
                self.scores[name] = model.predict_serialized(self.records)
        return {name: self.scores[name] for name in models}

    def write_scored(self, cfg: PipelineConfig, scores: dict[str, np.ndarray], path: Path) -> Path:
        """The examples TFMA reads: label, slice columns (too-small single values left out),
        one `prediction_key(model)` float per model."""
        minimum = cfg.eval_options.min_slice_size
        frame = pd.DataFrame({cfg.label: pd.Series(self.columns[self.label], dtype=object)})
        types = {cfg.label: "int"}
        singles = single_columns(cfg)
        for column in dict.fromkeys(singles + crossed_columns(cfg)):
            values = self.columns[column]
            if column in singles:  # a crossed slice big enough has big single values too
                values = [v if self.sizes.get(f"{column}={_text(v)}", 0) >= minimum else None for v in values]
            frame[column] = pd.Series(values, dtype=object)
            types[column] = cfg.feature(column).type
        for name, score in scores.items():
            frame[prediction_key(name)] = pd.Series(np.asarray(score, dtype=np.float64))
            types[prediction_key(name)] = "float"
        write_tfrecords(path, serialize_examples(frame, types))
        return path


def span_of_file(file: Path) -> str:
    """The span of an ingested shard (`.../spans/<span>/examples/<split>/<shard>`)."""
    return file.parents[2].name


def _slice_sizes(columns: dict[str, list], slices: list[list[str]], rows: int) -> dict[str, int]:
    """`{slice name: examples}` for every slice TFMA computes (`Overall`, `carrier=UA`, ...)."""
    counts: Counter[str] = Counter({OVERALL: rows})
    for keys in slices:
        if keys:
            for values in zip(*(columns[k] for k in keys), strict=True):
                if all(v is not None for v in values):
                    counts[",".join(f"{k}={_text(v)}" for k, v in zip(keys, values, strict=True))] += 1
    return dict(sorted(counts.items(), key=lambda kv: (kv[0] != OVERALL, kv[0])))
