"""The raw feature spec, built generically from `pipeline.yaml` `features` (+ the label)."""

from __future__ import annotations

from ml.config import PipelineConfig


def raw_feature_spec(cfg: PipelineConfig, *, label: bool = True, defaults: bool = False) -> dict:
    """`{name: tf.io.FixedLenFeature}` for every raw feature (one value per example).

    `defaults=True` adds the config's `default` as `default_value` (used when parsing serving
    requests, so a missing value is imputed like ingest does). TFT schemas cannot carry
    defaults, so the transform uses `defaults=False` (ingest guarantees every value is present).
    """
    import tensorflow as tf

    dtypes = {"string": tf.string, "int": tf.int64, "float": tf.float32}
    spec = {}
    for feature in cfg.features:
        default = None
        if defaults and feature.default is not None:
            default = (
                feature.default
                if feature.type == "string"
                else (float(feature.default) if feature.type == "float" else int(feature.default))
            )
        spec[feature.name] = tf.io.FixedLenFeature([], dtypes[feature.type], default_value=default)
    if label:
        spec[cfg.label] = tf.io.FixedLenFeature([], tf.int64)
    return spec
