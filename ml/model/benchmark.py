"""The benchmark a candidate must beat: a logistic regression on the same window and TFT output.

Trained once per transform run (same transformed train split, same seed, same export as the
candidate, so TFMA evaluates it in the same run through the same `serving_default`) and cached
in `<transform dir>/benchmark/` (`saved_model/` + `train_result.json`, written atomically).
Categorical features enter as one weight per vocabulary entry (a width-1 embedding = a one-hot
linear term), the bucketised hour one-hot, the numerics as they are: one sigmoid unit on top.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ml.atomic import atomic_dir, read_json
from ml.config import PipelineConfig
from ml.errors import PipelineError
from ml.model.layout import ModelLayout, TransformLayout
from ml.model.train_result import TrainResult

log = logging.getLogger(__name__)
KIND = "logistic regression"


def _clip_ids_layer(keras):
    """A layer clipping integer ids into [0, top] (a Lambda would not survive `model.save`)."""
    import tensorflow as tf

    class ClipIds(keras.layers.Layer):  # type: ignore[name-defined]
        def __init__(self, top: int, **kwargs):
            super().__init__(**kwargs)
            self.top = top

        def call(self, ids):
            return tf.clip_by_value(ids, tf.constant(0, ids.dtype), tf.constant(self.top, ids.dtype))

        def get_config(self) -> dict:
            return {**super().get_config(), "top": self.top}

    return ClipIds


def build_benchmark(tft_output, label: str):
    """One linear unit over every transformed feature (integer features: one weight per id)."""
    import tensorflow as tf
    from tensorflow_transform.keras_lib import tf_keras as keras

    inputs, parts = {}, []
    for name, spec in sorted(tft_output.transformed_feature_spec().items()):
        if name == label:
            continue
        inputs[name] = keras.Input(shape=(), name=name, dtype=spec.dtype)
        if spec.dtype.is_integer:
            # TFT's recorded domain can end short of the ids the transform gives (seen on flights:
            # a domain of 92 buckets for a 94-entry `dest` vocabulary + OOV): a higher id shares
            # the last weight rather than failing the lookup
            size = tft_output.num_buckets_for_transformed_feature(name) + 1
            ids = _clip_ids_layer(keras)(top=size - 1, name=f"{name}_ids")(inputs[name])
            parts.append(keras.layers.Embedding(size, 1, name=f"{name}_w")(ids))
        else:
            parts.append(keras.layers.Reshape((1,))(tf.cast(inputs[name], tf.float32)))
    out = keras.layers.Dense(1, activation="sigmoid", name="probability")(keras.layers.Concatenate()(parts))
    model = keras.Model(inputs, out)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.05),
        loss="binary_crossentropy",
        metrics=[keras.metrics.AUC(name="auc")],
    )
    return model


def benchmark_dir(transform_dir: Path) -> Path:
    return Path(transform_dir) / "benchmark"


def trained_with(out: ModelLayout, epochs: int) -> bool:
    """The benchmark in `out` exists and was trained for `epochs` (an older file: train again)."""
    try:
        return out.train_result.is_file() and TrainResult.read(out.train_result).epochs == epochs
    except PipelineError:
        return False


def ensure_benchmark(cfg: PipelineConfig, transform_dir: Path, *, seed: int = 0) -> ModelLayout:
    """The transform run's benchmark model, trained now unless it already exists."""
    import tensorflow_transform as tft
    from tensorflow_transform.keras_lib import tf_keras as keras

    from ml.model.export import export_serving_model
    from ml.model.trainer import keep_autograph_out_of_tf_keras, make_dataset

    xf = TransformLayout(Path(transform_dir).resolve()).require()
    out = ModelLayout(benchmark_dir(xf.root))
    options = cfg.eval_options.benchmark
    epochs = options.epochs if options else 3
    if trained_with(out, epochs):
        return out
    log.info("training the benchmark (%s, %d epochs) on %s", KIND, epochs, xf.root)
    keep_autograph_out_of_tf_keras()
    keras.utils.set_random_seed(seed)
    tft_output = tft.TFTransformOutput(str(xf.tft_output))
    model = build_benchmark(tft_output, cfg.label)
    batch = cfg.train_batch_size
    train = make_dataset(tft_output, xf.transformed_pattern("train"), cfg.label, batch, seed, shuffle=True)
    history = model.fit(train, epochs=epochs, verbose=0).history
    with atomic_dir(out.root) as tmp:
        export_serving_model(model, tft_output, ModelLayout(tmp).saved_model, cfg)
        TrainResult(
            model_dir=str(out.root),
            kind=KIND,
            transform_dir=str(xf.root),
            spans=read_json(xf.manifest)["spans"]["used"],
            epochs=epochs,
            seed=seed,
            train_metrics={"auc": round(float(history["auc"][-1]), 6)},
        ).write(ModelLayout(tmp).train_result)
    return out
