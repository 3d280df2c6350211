"""Fresh-process probe of a SavedModel: `python -m ml.model.probe SAVED_MODEL FILE... [--count N]`.

Loads the SavedModel with plain `tf.saved_model.load` (as TF Serving would, no Keras objects),
feeds the first N raw examples to `serving_default` and `serving_regress` (serialized
tf.Examples) and to `serving_raw` (the same rows as named tensors), and checks that all three
answer with finite probabilities in [0, 1] that agree. Prints one JSON line; exit code 0 only when it passed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import ml  # noqa: F401  (selects tf_keras before TensorFlow loads)
from ml.model.signatures import (
    DEFAULT_SIGNATURE,
    OUTPUT_KEY,
    RAW_SIGNATURE,
    REGRESS_INPUT,
    REGRESS_OUTPUT,
    REGRESS_SIGNATURE,
)
from ml.tfrecord import read_tfrecords

AGREEMENT_TOLERANCE = 1e-5


def probe(saved_model: Path, files: list[Path], count: int) -> dict:
    import numpy as np
    import tensorflow as tf

    records = list(itertools.islice((r for f in files for r in read_tfrecords(f)), count))
    if not records:
        raise ValueError("no raw examples to probe with")
    loaded = tf.saved_model.load(str(saved_model))
    missing = {DEFAULT_SIGNATURE, RAW_SIGNATURE, REGRESS_SIGNATURE} - set(loaded.signatures)
    if missing:
        raise ValueError(f"signature(s) missing: {sorted(missing)}")
    serialized = tf.constant(records)
    by_examples = loaded.signatures[DEFAULT_SIGNATURE](examples=serialized)[OUTPUT_KEY]
    raw_fn = loaded.signatures[RAW_SIGNATURE]
    inputs = raw_fn.structured_input_signature[1]
    parsed = tf.io.parse_example(
        serialized, {name: tf.io.FixedLenFeature([], spec.dtype) for name, spec in inputs.items()}
    )
    by_raw = raw_fn(**parsed)[OUTPUT_KEY]
    by_regress = loaded.signatures[REGRESS_SIGNATURE](**{REGRESS_INPUT: serialized})[REGRESS_OUTPUT]
    outputs = {
        DEFAULT_SIGNATURE: by_examples.numpy().reshape(-1),
        RAW_SIGNATURE: by_raw.numpy().reshape(-1),
        REGRESS_SIGNATURE: by_regress.numpy().reshape(-1),
    }
    for name, probs in outputs.items():
        if probs.shape != (len(records),):
            raise ValueError(f"{name} returned {probs.size} values for {len(records)} examples")
        if not np.all(np.isfinite(probs)) or probs.min() < 0 or probs.max() > 1:
            raise ValueError(f"{name} returned values outside [0, 1]: {probs.tolist()}")
    for other in (RAW_SIGNATURE, REGRESS_SIGNATURE):
        diff = float(np.abs(outputs[DEFAULT_SIGNATURE] - outputs[other]).max())
        if diff > AGREEMENT_TOLERANCE:
            raise ValueError(f"{DEFAULT_SIGNATURE} and {other} disagree by {diff:g}")
    diff = max(float(np.abs(outputs[DEFAULT_SIGNATURE] - outputs[o]).max()) for o in outputs)
    return {
        "passed": True,
        "examples": len(records),
        "signatures": sorted(outputs),
        "max_abs_diff": diff,
        "predictions": [round(float(p), 6) for p in outputs[DEFAULT_SIGNATURE]],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("saved_model", type=Path)
    parser.add_argument("files", type=Path, nargs="+", help="gzipped raw tf.Example TFRecords")
    parser.add_argument("--count", type=int, default=8)
    args = parser.parse_args(argv)
    try:
        result = probe(args.saved_model, args.files, args.count)
    except Exception as exc:  # noqa: BLE001 -- any failure is the probe's verdict
        result = {"passed": False, "error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result), flush=True)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
