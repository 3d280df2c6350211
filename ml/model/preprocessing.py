"""The module file's `preprocessing_fn` as the transform runs it: reads only declared features,
never sees or returns the label (computed once at ingest, ml.data.derive), and its mistakes
name the function and the column. `trace` runs it on symbolic inputs for `ml check`."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

from ml.config import PipelineConfig
from ml.errors import ConfigError

FUNCTION = "preprocessing_fn"


class _Inputs(dict):
    """The raw features; reading any other name is a PipelineError naming it."""

    cfg: PipelineConfig

    def __missing__(self, key: str) -> Any:
        cfg = self.cfg
        why = (
            "the label is computed once at ingest and passed through unchanged"
            if key == cfg.label
            else f"pipeline.yaml declares no feature {key!r}"
        )
        raise ConfigError(
            f"{FUNCTION}() in {cfg.module_path.name} reads inputs[{key!r}]: {why} "
            f"(its inputs: {', '.join(sorted(self))})",
            file=str(cfg.module_path),
            column=str(key),
            rule="module-columns",
        )


def checked_preprocessing_fn(cfg: PipelineConfig) -> Callable[[dict], dict]:
    """The module's preprocessing_fn over the features, the label passed through unchanged."""
    user_fn = cfg.module_function(FUNCTION)
    label = cfg.label

    def preprocessing_fn(inputs: dict) -> dict:
        features = _Inputs({k: v for k, v in inputs.items() if k != label})
        features.cfg = cfg
        outputs = dict(user_fn(features))
        if label in outputs:
            raise ConfigError(
                f"{FUNCTION}() in {cfg.module_path.name} returns {label!r}, the label: it is computed "
                "once at ingest (label in pipeline.yaml) and the transform passes it through; rename "
                "that output",
                file=str(cfg.module_path),
                column=label,
                rule="module-label",
            )
        outputs[label] = inputs[label]
        return outputs

    return preprocessing_fn


def trace(cfg: PipelineConfig) -> list[str]:
    """Trace the checked preprocessing_fn on symbolic raw features; its output names."""
    import tensorflow as tf
    from tensorflow_transform import impl_helper

    from ml.model.features import raw_feature_spec

    signature = {k: tf.TensorSpec([None], s.dtype) for k, s in raw_feature_spec(cfg).items()}
    with tempfile.TemporaryDirectory(prefix="ml-check-") as temp:  # TFT's dummy vocabulary assets
        _, _, outputs = impl_helper.trace_preprocessing_function(
            checked_preprocessing_fn(cfg), signature, use_tf_compat_v1=False, base_temp_dir=temp
        )
    return sorted(outputs)
