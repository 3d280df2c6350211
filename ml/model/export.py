"""Export a trained tf_keras model as a SavedModel with the TFT graph inside.

Signatures:
- `serving_default(examples: string[None])`: serialized tf.Examples -> `{"probabilities"}`
  (what TFMA and gRPC clients use);
- `serving_raw(<feature>: [None] each)`: raw named features -> `{"probabilities"}` (TF Serving
  REST JSON: `{"signature_name": "serving_raw", "instances": [{"carrier": "UA", ...}]}`); TF
  Serving's row format wants every input in every instance (json_tensor.cc), so all are required;
- `serving_regress(inputs: string[None])` -> `{"outputs": [None]}`: what clients call with the
  features they have, `POST .../labels/stable:regress {"signature_name": "serving_regress",
  "examples": [{"carrier": "UA", ...}]}`. TF Serving turns each JSON object into a tf.Example
  holding only the keys sent; parsing fills every feature with a `default:` in pipeline.yaml,
  a missing feature without one is an error naming it.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from ml.config import PipelineConfig
from ml.model.features import raw_feature_spec
from ml.model.signatures import (
    DEFAULT_SIGNATURE,
    EXAMPLES_INPUT,
    OUTPUT_KEY,
    RAW_SIGNATURE,
    REGRESS_INPUT,
    REGRESS_OUTPUT,
    REGRESS_SIGNATURE,
)


def export_serving_model(model, tft_output, export_dir: Path, cfg: PipelineConfig) -> None:
    # Tracking the TFT layer on the model saves its vocabulary assets with the SavedModel.
    model.tft_layer = tft_output.transform_features_layer()
    label = cfg.label
    parse_spec = raw_feature_spec(cfg, label=False, defaults=True)

    def predict(raw: dict) -> dict:
        transformed = model.tft_layer(raw)  # label absent -> TFT prunes the label output
        transformed.pop(label, None)
        return {OUTPUT_KEY: model(transformed)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)])
    def serve_examples(serialized):
        return predict(tf.io.parse_example(serialized, parse_spec))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=REGRESS_INPUT)])
    def serve_regress(inputs):
        probabilities = predict(tf.io.parse_example(inputs, parse_spec))[OUTPUT_KEY]
        return {REGRESS_OUTPUT: tf.reshape(probabilities, [-1])}

    @tf.function
    def serve_raw(**raw):
        return predict(raw)

    raw_signature = serve_raw.get_concrete_function(
        **{name: tf.TensorSpec([None], spec.dtype, name=name) for name, spec in parse_spec.items()}
    )
    model.save(
        str(export_dir),
        save_format="tf",
        include_optimizer=False,
        signatures={
            DEFAULT_SIGNATURE: serve_examples.get_concrete_function(),
            RAW_SIGNATURE: raw_signature,
            REGRESS_SIGNATURE: serve_regress.get_concrete_function(),
        },
    )
