"""Test-side crafted candidates: a real trained SavedModel wrapped to misbehave in one known way.

`wrap_model(model_dir, target, change)` loads the model's SavedModel, and saves a new one whose
`serving_default`, `serving_raw` and `serving_regress` call the original and pass its outputs through
`change(probabilities, features)` (`features`: the raw `carrier` and `dep_delay` of each
example). The result is a model dir TFMA, the probe and `push` treat like any other (the
original's `train_result.json` is copied beside it). Nothing in ml/ knows about this.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

OUTPUT = "probabilities"


def wrap_model(model_dir: Path, target: Path, change: Callable) -> Path:
    import tensorflow as tf

    inner = tf.saved_model.load(str(Path(model_dir) / "saved_model"))
    raw_fn = inner.signatures["serving_raw"]
    raw_specs = raw_fn.structured_input_signature[1]
    parse = {
        "carrier": tf.io.FixedLenFeature([], tf.string, default_value=""),
        "dep_delay": tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
    }

    class Wrapped(tf.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve_examples(self, examples):
            probs = self.inner.signatures["serving_default"](examples=examples)[OUTPUT]
            return {OUTPUT: change(probs, tf.io.parse_example(examples, parse))}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def serve_regress(self, inputs):  # TF Serving's :regress contract, as the exporter's
            out = self.inner.signatures["serving_regress"](inputs=inputs)["outputs"]
            changed = change(tf.reshape(out, [-1, 1]), tf.io.parse_example(inputs, parse))
            return {"outputs": tf.reshape(changed, tf.shape(out))}

        @tf.function
        def serve_raw(self, **raw):
            probs = self.inner.signatures["serving_raw"](**raw)[OUTPUT]
            features = {"carrier": raw["carrier"], "dep_delay": tf.cast(raw["dep_delay"], tf.float32)}
            return {OUTPUT: change(probs, features)}

    module = Wrapped()
    target.mkdir(parents=True)
    tf.saved_model.save(
        module,
        str(target / "saved_model"),
        signatures={
            "serving_default": module.serve_examples.get_concrete_function(),
            "serving_raw": module.serve_raw.get_concrete_function(
                **{n: tf.TensorSpec([None], s.dtype, name=n) for n, s in raw_specs.items()}
            ),
            **(
                {"serving_regress": module.serve_regress.get_concrete_function()}
                if "serving_regress" in inner.signatures
                else {}
            ),
        },
    )
    shutil.copy2(Path(model_dir) / "train_result.json", target / "train_result.json")
    return target


def constant_for_carriers(carriers: tuple[str, ...], value: float = 0.5) -> Callable:
    """Predict `value` for every flight of these carriers (their slices lose all ranking)."""
    import tensorflow as tf

    def change(probs, features):
        hit = tf.reduce_any(tf.stack([tf.equal(features["carrier"], c) for c in carriers]), axis=0)
        return tf.where(hit[:, None], tf.fill(tf.shape(probs), value), probs)

    return change


def nan_from_dep_delay(limit: float) -> Callable:
    """NaN whenever dep_delay >= limit (real eval data stays below it: TFMA sees no NaN)."""
    import tensorflow as tf

    def change(probs, features):
        hit = features["dep_delay"] >= limit
        return tf.where(hit[:, None], tf.fill(tf.shape(probs), float("nan")), probs)

    return change


def blurred_except_carrier(carrier: str, amount: float = 0.4) -> Callable:
    """Add a fixed pseudo-random offset in [-amount, amount] (a function of each flight's
    dep_delay) to every prediction except those of `carrier`, clipped to [0, 1]: a served model
    that ranks worse everywhere but on that one carrier."""
    import tensorflow as tf

    def change(probs, features):
        offset = amount * tf.sin(features["dep_delay"] * 12.9898 + 78.233)[:, None]
        keep = tf.equal(features["carrier"], carrier)[:, None]
        return tf.where(keep, probs, tf.clip_by_value(probs + offset, 0.0, 1.0))

    return change


def recalibrated(scale: float, shift: float) -> Callable:
    """`scale * p + shift` (scale > 0): every ranking, so every slice's AUC, stays the original's,
    while the predictions themselves change: a new version that no gate can tell apart by noise."""

    def change(probs, features):
        return probs * scale + shift

    return change
