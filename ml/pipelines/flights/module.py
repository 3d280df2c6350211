"""The flights module file: TFT `preprocessing_fn` and the Keras `build_model`.

Contract with the core (`ml/model/`):
- `preprocessing_fn(inputs) -> dict`: raw features (names/types from pipeline.yaml) ->
  transformed features. The core passes the label through unchanged under its raw name.
- `build_model(tft_output, label) -> compiled tf_keras.Model` taking every transformed feature
  except the label as a named input and returning one sigmoid probability.
TensorFlow and TFT are imported inside the functions (the module is loaded by light commands too).
"""

from __future__ import annotations

import math

CATEGORICAL = ("carrier", "origin", "dest")
NUMERIC = ("dep_delay", "distance", "temp", "humid", "wind_speed", "precip", "visib")
HOUR_BOUNDARIES = (6.0, 9.0, 12.0, 15.0, 18.0, 21.0)  # departure hour -> 7 time-of-day buckets
EMBEDDING_DIM = 4
OOV_BUCKETS = 1


def _xf(name: str) -> str:
    return f"{name}_xf"


def preprocessing_fn(inputs: dict) -> dict:
    """z-scored numerics, vocabularies for the categoricals, bucketised hour, cyclic month."""
    import tensorflow as tf
    import tensorflow_transform as tft

    out = {}
    for name in NUMERIC:
        out[_xf(name)] = tft.scale_to_z_score(tf.cast(inputs[name], tf.float32))
    for name in CATEGORICAL:
        out[_xf(name)] = tft.compute_and_apply_vocabulary(
            inputs[name], num_oov_buckets=OOV_BUCKETS, vocab_filename=name
        )
    out[_xf("hour")] = tft.apply_buckets(
        tf.cast(inputs["hour"], tf.float32), bucket_boundaries=tf.constant([HOUR_BOUNDARIES])
    )
    angle = 2.0 * math.pi * (tf.cast(inputs["month"], tf.float32) - 1.0) / 12.0
    out[_xf("month_sin")] = tf.sin(angle)
    out[_xf("month_cos")] = tf.cos(angle)
    return out


def build_model(tft_output, label: str):
    """A small wide-and-deep-ish network over the transformed features."""
    from tensorflow_transform.keras_lib import tf_keras as keras

    inputs, parts = {}, []
    for name, spec in sorted(tft_output.transformed_feature_spec().items()):
        if name == label:
            continue
        inputs[name] = keras.Input(shape=(), name=name, dtype=spec.dtype)
        raw = name[: -len("_xf")]
        if raw in CATEGORICAL:
            size = tft_output.vocabulary_size_by_name(raw) + OOV_BUCKETS
            parts.append(keras.layers.Embedding(size, EMBEDDING_DIM, name=f"{raw}_emb")(inputs[name]))
        elif raw == "hour":
            parts.append(
                keras.layers.CategoryEncoding(
                    num_tokens=len(HOUR_BOUNDARIES) + 1, output_mode="one_hot", name="hour_onehot"
                )(inputs[name])
            )
        else:
            parts.append(keras.layers.Reshape((1,), name=f"{raw}_col")(inputs[name]))
    x = keras.layers.Concatenate()(parts)
    x = keras.layers.Dense(32, activation="relu")(x)
    x = keras.layers.Dense(16, activation="relu")(x)
    out = keras.layers.Dense(1, activation="sigmoid", name="probability")(x)
    model = keras.Model(inputs, out)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.005),
        loss="binary_crossentropy",
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="binary_accuracy")],
    )
    return model
