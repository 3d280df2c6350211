"""Predict raw rows through a SavedModel's `serving_default`, the signature clients call.

Rows are `{feature: value}` dicts (None or NaN = missing: the feature is left out of the
tf.Example, as a client would send it), serialized like ingest does (ml.data.examples).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ml.config import PipelineConfig
from ml.data.examples import serialize_examples
from ml.model.signatures import DEFAULT_SIGNATURE, OUTPUT_KEY
from ml.model.tf_example import decode_example


class ServingModel:
    """A SavedModel loaded with plain `tf.saved_model.load`, as TF Serving would."""

    def __init__(self, saved_model: Path, cfg: PipelineConfig):
        import tensorflow as tf

        self._tf = tf
        self.fn = tf.saved_model.load(str(saved_model)).signatures[DEFAULT_SIGNATURE]
        self.types = {f.name: f.type for f in cfg.features}

    def serialize(self, rows: list[dict]) -> list[bytes]:
        frame = pd.DataFrame([{name: row.get(name) for name in self.types} for row in rows])
        return serialize_examples(frame, self.types)

    def predict(self, rows: list[dict]) -> np.ndarray:
        """One probability per row (raises what the signature raises)."""
        return self.predict_serialized(self.serialize(rows))

    def predict_serialized(self, examples: list[bytes], batch: int = 4096) -> np.ndarray:
        """One probability per serialized tf.Example (features it does not know are ignored)."""
        parts = [np.zeros(0)]
        for start in range(0, len(examples), batch):
            chunk = examples[start : start + batch]
            out = self.fn(examples=self._tf.constant(chunk))[OUTPUT_KEY]
            parts.append(np.asarray(out.numpy(), dtype=np.float64).reshape(len(chunk), -1)[:, 0])
        return np.concatenate(parts)


def raw_rows(records: list[bytes], cfg: PipelineConfig) -> list[dict]:
    """Serialized raw eval examples -> `{feature: value}` rows (strings decoded)."""
    rows = []
    for record in records:
        example = decode_example(record)
        row = {}
        for feature in cfg.features:
            values = example.get(feature.name, ("empty", []))[1]
            value = values[0] if values else None
            row[feature.name] = value.decode() if isinstance(value, bytes) else value
        rows.append(row)
    return rows
