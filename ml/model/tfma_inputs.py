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

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ml.config import PipelineConfig
from ml.data.examples import serialize_examples
from ml.model.slices import slice_sizes_of
from ml.model.tf_example import decode_example
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


def _scalar(example: dict, column: str):
    values = example.get(column, ("empty", []))[1]
    if not values:
        return None
    return values[0].decode() if isinstance(values[0], bytes) else values[0]


@dataclass(frozen=True)
class EvalRows:
    """The raw eval examples of `files`, read and decoded once: their bytes, label, slice sizes."""

    records: list[bytes]
    decoded: list[dict]
    sizes: dict[str, int]
    label: str

    @classmethod
    def read(cls, cfg: PipelineConfig, files: list[Path]) -> EvalRows:
        records = [r for f in files for r in read_tfrecords(f)]
        decoded = [decode_example(r) for r in records]
        return cls(records, decoded, slice_sizes_of(decoded, cfg.eval_sliced), cfg.label)

    def label_counts(self) -> tuple[int, int]:
        """(examples, positive labels): one class makes AUC undefined."""
        positives = sum(int(_scalar(e, self.label) == 1) for e in self.decoded)
        return len(self.records), positives

    def scores(self, models: dict) -> dict[str, np.ndarray]:
        """`{model name: one score per example}` through each model's `serving_default`
        (`models`: ml.model.predict.ServingModel by name)."""
        return {name: model.predict_serialized(self.records) for name, model in models.items()}

    def write_scored(self, cfg: PipelineConfig, scores: dict[str, np.ndarray], path: Path) -> Path:
        """The examples TFMA reads: label, slice columns (too-small single values left out),
        one `prediction_key(model)` float per model."""
        minimum = cfg.eval_options.min_slice_size
        frame = pd.DataFrame({cfg.label: [_scalar(e, self.label) for e in self.decoded]})
        types = {cfg.label: "int"}
        singles = single_columns(cfg)
        for column in dict.fromkeys(singles + crossed_columns(cfg)):
            values = [_scalar(e, column) for e in self.decoded]
            if column in singles:  # a crossed slice big enough has big single values too
                values = [v if self.sizes.get(f"{column}={v}", 0) >= minimum else None for v in values]
            frame[column] = pd.Series(values, dtype=object)
            types[column] = cfg.feature(column).type
        for name, score in scores.items():
            frame[prediction_key(name)] = pd.Series(np.asarray(score, dtype=np.float64))
            types[prediction_key(name)] = "float"
        write_tfrecords(path, serialize_examples(frame, types))
        return path
