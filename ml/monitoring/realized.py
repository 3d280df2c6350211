"""Realized performance: TFMA over the labelled, joined predictions of a span (no model reload).

The joined rows become tf.Examples holding the slice features, the label, the logged score
(`prediction`, TFMA's `prediction_key`) and `served_by` (the judged group: the version label
that answered, `v<N>`, or `<label>@v<N>` for a label that moved during the span). One TFMA run
computes the pipeline's metrics on every evaluation slice crossed with `served_by` (canary and
stable each get their own numbers) and over all of them together;
slices smaller than `evaluation.min_slice_size` get no metrics, as in evaluation.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ml.config import PipelineConfig
from ml.data.examples import serialize_examples
from ml.model.slices import OVERALL
from ml.spans import SpanPaths
from ml.tfrecord import write_tfrecords

PREDICTION_KEY = "prediction"
SERVED_BY = "served_by"
ALL_LABELS = "all"  # the rows of every version label together


def examples_of(cfg: PipelineConfig, rows: pd.DataFrame) -> list[bytes]:
    """The labelled rows as tf.Examples: slice features, label, prediction, served_by."""
    columns = sorted({c for keys in cfg.eval_sliced for c in keys})
    types = {c: cfg.feature(c).type for c in columns}
    frame = pd.DataFrame({c: rows[c] for c in columns})
    frame[cfg.label] = rows["y"].astype("int64")
    frame[PREDICTION_KEY] = rows["score"].astype("float64")
    frame[SERVED_BY] = rows[SERVED_BY].astype(str)
    types |= {cfg.label: "int", PREDICTION_KEY: "float", SERVED_BY: "string"}
    return serialize_examples(frame.reset_index(drop=True), types)


def eval_config(cfg: PipelineConfig):
    import tensorflow_model_analysis as tfma

    from ml.model.tfma_run import metric_configs

    specs = [tfma.SlicingSpec()]
    for keys in cfg.eval_sliced:
        specs.append(tfma.SlicingSpec(feature_keys=[SERVED_BY, *keys]))
        if keys:
            specs.append(tfma.SlicingSpec(feature_keys=keys))
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(label_key=cfg.label, prediction_key=PREDICTION_KEY)],
        metrics_specs=[tfma.MetricsSpec(metrics=metric_configs(cfg, []))],
        slicing_specs=specs,
        options=tfma.Options(min_slice_size={"value": cfg.eval_options.min_slice_size}),
    )


def run_tfma(cfg: PipelineConfig, examples_file: Path, output: Path) -> None:
    from ml.model.tfma_run import run_tfma as tfma_over

    tfma_over([examples_file], eval_config(cfg), output, telemetry="ml-monitor")


def split_slice(name: str) -> tuple[str, str]:
    """`served_by=stable,carrier=AA` -> (`stable`, `carrier=AA`); `carrier=AA` -> (`all`, ...)."""
    parts = [] if name == OVERALL else name.split(",")
    label = next((p.split("=", 1)[1] for p in parts if p.startswith(f"{SERVED_BY}=")), ALL_LABELS)
    rest = [p for p in parts if not p.startswith(f"{SERVED_BY}=")]
    return label, ",".join(rest) or OVERALL


def realized_metrics(cfg: PipelineConfig, rows: pd.DataFrame, workdir: Path) -> dict[str, dict[str, dict]]:
    """`{version label | all: {slice: {metric: value}}}` of the labelled rows (TFMA in `workdir/tfma`)."""
    from ml.model.tfma_run import read_metrics

    labelled = rows[rows["y"].notna()]
    if labelled.empty:
        return {}
    examples = SpanPaths.joined_examples_file(workdir)
    write_tfrecords(examples, examples_of(cfg, labelled))
    run_tfma(cfg, examples, SpanPaths.monitor_tfma_dir(workdir))
    table: dict[str, dict[str, dict]] = {}
    for name, groups in read_metrics(SpanPaths.monitor_tfma_dir(workdir)).items():
        label, slice_name = split_slice(name)
        values = next(iter(groups.values()), {})
        table.setdefault(label, {})[slice_name] = values
    return table
