"""First `fit` of a process with and without AutoGraph skipping `tf_keras` (ml.model.trainer).

    .venv/bin/python bench/train_first_fit.py [--repeat 2] [--smoke]

TF's AutoGraph rules exclude its bundled `keras` package but not the separate `tf_keras`
package that TFT/TFMA require, so every process's first `Model.fit` transpiles hundreds of
Keras functions. `keep_autograph_out_of_tf_keras()` adds the missing rule. Each run is a fresh
subprocess (the cost is per process) training the same tiny model on 2,000 random rows for one
epoch; imports are not timed. Prints seconds per mode and the ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from _smoke import parse_args

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys, time
import ml
import tensorflow as tf
from tensorflow_transform.keras_lib import tf_keras as keras
from ml.model.trainer import keep_autograph_out_of_tf_keras
if sys.argv[1] == "skip":
    keep_autograph_out_of_tf_keras()
x = tf.random.stateless_uniform((2000, 3), seed=(1, 2))
y = tf.cast(x[:, :1] > 0.5, tf.float32)
inputs = keras.Input((3,))
outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Dense(8)(inputs))
model = keras.Model(inputs, outputs)
model.compile("adam", "binary_crossentropy", metrics=[keras.metrics.AUC()])
start = time.perf_counter()
model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(64), epochs=1, verbose=0)
print(json.dumps({"first_fit_s": time.perf_counter() - start}))
"""


def run(mode: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])["first_fit_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    args = parse_args(parser, repeat=1)
    best = {}
    for mode in ("convert", "skip"):  # convert = TF's default rules
        best[mode] = min(run(mode) for _ in range(args.repeat))
        print(f"{mode:8s} first fit: {best[mode]:6.2f} s (best of {args.repeat})", flush=True)
    print(f"ratio convert/skip: {best['convert'] / best['skip']:.1f}x")


if __name__ == "__main__":
    main()
