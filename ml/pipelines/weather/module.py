"""The weather module file: the label, the derived feature, `preprocessing_fn`, `build_model`.

Applied once at ingest (ml.data.derive), on the landed rows:
- `label_fn(frame)`: 1 when the hour had poor flying conditions: visibility under 3 miles,
  gusts of 25 mph or more (no gust reported = none), or at least 0.05 in of precipitation.
  It gets only `label.columns` (visib, wind_gust, precip): none of them is a model input.
- `derive_features(frame)`: `dewpoint_spread = temp - dewp` (fog and low cloud form as it
  nears 0), a raw feature of the examples like the landed ones.
Then TFT and Keras, as for any pipeline (TensorFlow imported inside the functions).
"""

from __future__ import annotations

import math

NUMERIC = ("temp", "dewp", "humid", "wind_speed", "pressure", "dewpoint_spread")
OOV_BUCKETS = 1


def label_fn(frame):
    gusty = frame["wind_gust"].fillna(0.0) >= 25.0
    return ((frame["visib"] < 3.0) | gusty | (frame["precip"] >= 0.05)).astype("int64")


def derive_features(frame):
    return {"dewpoint_spread": frame["temp"] - frame["dewp"]}


def preprocessing_fn(inputs: dict) -> dict:
    """z-scored numerics, the airport's vocabulary, cyclic hour and wind direction."""
    import tensorflow as tf
    import tensorflow_transform as tft

    out = {f"{name}_xf": tft.scale_to_z_score(tf.cast(inputs[name], tf.float32)) for name in NUMERIC}
    out["origin_xf"] = tft.compute_and_apply_vocabulary(
        inputs["origin"], num_oov_buckets=OOV_BUCKETS, vocab_filename="origin"
    )
    for name, period in (("hour", 24.0), ("wind_dir", 360.0)):
        angle = 2.0 * math.pi * tf.cast(inputs[name], tf.float32) / period
        out[f"{name}_sin_xf"], out[f"{name}_cos_xf"] = tf.sin(angle), tf.cos(angle)
    return out


def build_model(tft_output, label: str):
    from tensorflow_transform.keras_lib import tf_keras as keras

    inputs, parts = {}, []
    for name, spec in sorted(tft_output.transformed_feature_spec().items()):
        if name == label:
            continue
        inputs[name] = keras.Input(shape=(), name=name, dtype=spec.dtype)
        if name == "origin_xf":
            size = tft_output.vocabulary_size_by_name("origin") + OOV_BUCKETS
            parts.append(keras.layers.Embedding(size, 2, name="origin_emb")(inputs[name]))
        else:
            parts.append(keras.layers.Reshape((1,), name=f"{name}_col")(inputs[name]))
    x = keras.layers.Concatenate()(parts)
    x = keras.layers.Dense(16, activation="relu")(x)
    out = keras.layers.Dense(1, activation="sigmoid", name="probability")(x)
    model = keras.Model(inputs, out)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        loss="binary_crossentropy",
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="binary_accuracy")],
    )
    return model
