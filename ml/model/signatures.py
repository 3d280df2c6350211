"""Names shared by the exporter, the probe, TFMA and the serving side (no TensorFlow import)."""

DEFAULT_SIGNATURE = "serving_default"  # serialized tf.Examples ("examples": string[None])
RAW_SIGNATURE = "serving_raw"  # raw named features (TF Serving REST JSON instances)
OUTPUT_KEY = "probabilities"
