"""`train`: the trainer entrypoint (also the container command; see ml/model/__init__.py).

Reads a transform dir, builds the model from the pipeline module file, fits it on the
transformed train split (validating on eval), and writes the model dir `M` atomically:
`M/saved_model/` (clean SavedModel, TFT graph inside), `M/tensorboard/` (TensorBoard logs),
`M/train_result.json` (metrics, device, the transform dir and spans used, and the digests of
the transform output and of the trained weights).

Reproducible: the seed fixes the weights' initialisation and the shuffling, and TensorFlow's
op determinism is on, so the same transform output, module and seed give identical weights
(on the same machine and TensorFlow build).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path

import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_transform.keras_lib import tf_keras as keras

from ml.atomic import atomic_dir, read_json
from ml.config import PipelineConfig
from ml.digest import arrays_digest
from ml.model.export import export_serving_model
from ml.model.layout import ModelLayout, TransformLayout
from ml.model.signatures import DEFAULT_SIGNATURE, RAW_SIGNATURE
from ml.model.train_result import TrainResult
from ml.model.window import class_warnings

log = logging.getLogger(__name__)


def keep_autograph_out_of_tf_keras() -> None:
    """Treat `tf_keras` like TF treats its bundled `keras`: never AutoGraph-convert its code.

    TF's AutoGraph rules skip the `keras` package but not the separate `tf_keras` package, so
    the first `fit` of every process re-transpiles hundreds of Keras internals; measured by
    bench/train_first_fit.py. User code (the module file) is still converted.
    """
    from tensorflow.python.autograph.core import config as autograph_config

    rules = autograph_config.CONVERSION_RULES
    if not any(r.matches("tf_keras") for r in rules):
        autograph_config.CONVERSION_RULES = (autograph_config.DoNotConvert("tf_keras"), *rules)


def training_device() -> str:
    """`GPU:0 (<name>)` when TensorFlow sees a GPU (Keras then places ops there), else `CPU`."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "")
    return f"GPU:0 ({name})" if name else "GPU:0"


def make_dataset(
    tft_output, pattern: str, label: str, batch_size: int, seed: int, shuffle: bool
) -> tf.data.Dataset:
    return tf.data.experimental.make_batched_features_dataset(
        file_pattern=pattern,
        batch_size=batch_size,
        features=tft_output.transformed_feature_spec(),
        reader=lambda files: tf.data.TFRecordDataset(files, compression_type="GZIP"),
        label_key=label,
        num_epochs=1,
        shuffle=shuffle,
        shuffle_seed=seed,
        sloppy_ordering=False,
    )


def _last(history: dict, prefix: str = "") -> dict[str, float]:
    return {
        k[len(prefix) :]: round(float(v[-1]), 6)
        for k, v in history.items()
        if k.startswith(prefix) and (prefix or not k.startswith("val_"))
    }


def train(
    cfg: PipelineConfig, transform_dir: Path, output: Path, *, epochs: int, batch_size: int, seed: int = 0
) -> TrainResult:
    xf = TransformLayout(Path(transform_dir).resolve()).require()
    manifest = read_json(xf.manifest)
    output = Path(output).resolve()
    device = training_device()
    log.info("training on %s, %d epoch(s), batch %d", device, epochs, batch_size)
    keep_autograph_out_of_tf_keras()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    tft_output = tft.TFTransformOutput(str(xf.tft_output))
    model = cfg.module().build_model(tft_output, cfg.label)
    datasets = {
        split: make_dataset(
            tft_output, xf.transformed_pattern(split), cfg.label, batch_size, seed, shuffle=split == "train"
        )
        for split in ("train", "eval")
    }
    started = time.monotonic()
    with atomic_dir(output) as tmp:
        layout = ModelLayout(tmp)
        with contextlib.redirect_stdout(sys.stderr):  # Keras' per-epoch lines: stdout is the result's
            history = model.fit(
                datasets["train"],
                validation_data=datasets["eval"],
                epochs=epochs,
                verbose=2,
                callbacks=[keras.callbacks.TensorBoard(log_dir=str(layout.tensorboard), histogram_freq=0)],
            ).history
        fit_seconds = round(time.monotonic() - started, 2)
        weights_digest = arrays_digest(model.get_weights())
        export_serving_model(model, tft_output, layout.saved_model, cfg)
        positives = manifest.get("positives")
        warnings = class_warnings(manifest["rows"], positives) if positives is not None else []
        for warning in warnings:
            log.warning("%s", warning)
        eval_metrics: dict[str, float | None] = dict(_last(history, "val_"))
        if any("eval split" in w for w in warnings):  # Keras says 0.0 for an AUC with one class
            eval_metrics = {k: (None if "auc" in k else v) for k, v in eval_metrics.items()}
        result = TrainResult(
            pipeline=cfg.name,
            model_dir=str(output),
            saved_model=str(ModelLayout(output).saved_model),
            tensorboard=str(ModelLayout(output).tensorboard),
            transform_dir=str(xf.root),
            transform_run_id=manifest["run_id"],
            transform_digest=manifest.get("digest"),
            weights_digest=weights_digest,
            spans=manifest["spans"]["used"],
            rows=manifest["rows"],
            raw_eval_files=manifest["raw_files"]["eval"],
            train_metrics=_last(history),
            eval_metrics=eval_metrics,
            warnings=warnings,
            device=device,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            fit_seconds=fit_seconds,
            signatures=[DEFAULT_SIGNATURE, RAW_SIGNATURE],
            tensorflow=tf.__version__,
        )
        result.write(layout.train_result)
    return result
