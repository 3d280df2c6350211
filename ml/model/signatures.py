"""Names shared by the exporter, the probe, TFMA and the serving side (no TensorFlow import)."""

DEFAULT_SIGNATURE = "serving_default"  # serialized tf.Examples ("examples": string[None])
EXAMPLES_INPUT = "examples"
RAW_SIGNATURE = "serving_raw"  # raw named features (TF Serving REST JSON instances)
OUTPUT_KEY = "probabilities"
# TF Serving's `:regress` contract (regressor.cc): one string input `inputs` (the tf.Examples it builds
# from the JSON `examples`, with only the features a client sent) and one float output `outputs`.
REGRESS_SIGNATURE = "serving_regress"
REGRESS_INPUT, REGRESS_OUTPUT = "inputs", "outputs"
