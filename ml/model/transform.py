"""`transform`: TFT analyze (train split of the window) + transform (train and eval).

Writes `<artifact_root>/<pipeline>/transforms/<run id>/` atomically:
`transform_output/` (a TFTransformOutput: transform_fn/, transformed_metadata/ and the raw
schema in metadata/), `transformed/{train,eval}-NNNNN-of-NNNNN.tfrecord.gz` (one file per
ingested file, rows in its order) and `manifest.json` (with the output's digest).

Reproducible: the same spans, pipeline.yaml and module give byte-identical outputs, on any
number of Beam workers. Two Beam pipelines, both fed files rather than rows:
1. analyze: each ingested file is read in fixed batches of BATCH_SIZE rows, so every analyzer's
   per-batch partial result is the same whichever worker computes it (TFT's combiners merge
   those partials in float64 and cast to float32 at the end, so their merge order cannot show);
   TFT's scratch folder has a fixed path (its vocabulary paths are baked into the graph) and
   the graph is stored in a canonical byte form (ml/model/canonical.py).
2. transform: each ingested file becomes one transformed file, row for row, through the
   transform graph the serving model embeds; nothing but file names crosses Beam's stages, so
   memory does not grow with the window.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import apache_beam as beam
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils
from tfx_bsl.public import tfxio

from ml.atomic import atomic_dir, atomic_write_json
from ml.beam import pipeline_options, release_shared_objects
from ml.config import PipelineConfig
from ml.data.span_results import IngestSummary
from ml.digest import tree_digest
from ml.errors import DataError, PipelineError
from ml.model.canonical import canonicalize_saved_model
from ml.model.example_encoder import ExampleEncoder
from ml.model.features import raw_feature_spec
from ml.model.layout import TransformLayout
from ml.model.preprocessing import checked_preprocessing_fn
from ml.model.window import SpanSelection, class_warnings, select_spans, split_files
from ml.roots import Roots
from ml.spans import SpanPaths, parse_span, window_ending
from ml.tfrecord import read_tfrecords

log = logging.getLogger(__name__)
TRANSFORMED = ("train", "eval")  # what training reads; a test split is judged raw, by evaluate
BATCH_SIZE = 1000


def _batches(path: str) -> Iterator[list[bytes]]:
    """The serialized examples of one ingested file, BATCH_SIZE at a time, in file order (read
    by ml.tfrecord: 15x faster than a tf.data pipeline per file, which traces a graph first)."""
    batch: list[bytes] = []
    for record in read_tfrecords(Path(path)):
        batch.append(record)
        if len(batch) == BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch


class _DecodeFile(beam.DoFn):
    """An ingested file -> Arrow RecordBatches of BATCH_SIZE rows (TFT's analyzer input)."""

    def __init__(self, schema_bytes: bytes):
        self._schema_bytes = schema_bytes

    def setup(self) -> None:
        from tfx_bsl.coders import example_coder

        self._decoder = example_coder.ExamplesToRecordBatchDecoder(self._schema_bytes)

    def process(self, path: str):
        for batch in _batches(path):
            yield self._decoder.DecodeBatch(batch)


class _TransformFile(beam.DoFn):
    """(ingested file, output file) -> the output file, its rows transformed in order."""

    def __init__(self, tft_output_dir: str):
        self._tft_output_dir = tft_output_dir

    def setup(self) -> None:
        tft_output = tft.TFTransformOutput(self._tft_output_dir)
        layer, spec = tft_output.transform_features_layer(), tft_output.raw_feature_spec()
        self._transform = tf.function(
            lambda serialized: layer(tf.io.parse_example(serialized, spec)),
            input_signature=[tf.TensorSpec([None], tf.string)],
        )
        self._encoder = ExampleEncoder()

    def teardown(self) -> None:
        """Free the loaded graph while TensorFlow is whole (a worker process exits next)."""
        import gc

        del self._transform, self._encoder
        gc.collect()

    def process(self, job: tuple[str, str]):
        source, target = job
        rows = 0
        with tf.io.TFRecordWriter(target, options="GZIP") as writer:
            for batch in _batches(source):
                for example in self._encoder.encode(self._transform(tf.constant(batch))):
                    writer.write(example)
                rows += len(batch)
        yield rows


def default_run_id(end_span: str, window: int) -> str:
    return f"{end_span}-w{window}"


@contextlib.contextmanager
def _tft_scratch(transforms: Path) -> Iterator[Path]:
    """TFT's temp dir at a fixed path (its vocabulary paths end up in the graph as table
    names), held by one transform of the pipeline at a time, emptied before and after."""
    transforms.mkdir(parents=True, exist_ok=True)
    scratch = transforms / ".tft-scratch"
    lock = os.open(transforms, os.O_RDONLY)  # the folder itself: nothing is left behind
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        shutil.rmtree(scratch, ignore_errors=True)
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        os.close(lock)


def _analyze(cfg: PipelineConfig, train_files: list[Path], out: TransformLayout, scratch: Path) -> None:
    schema = schema_utils.schema_from_feature_spec(raw_feature_spec(cfg))
    source = tfxio.TFExampleRecord([str(f) for f in train_files], schema=schema)
    with (
        beam.Pipeline(options=pipeline_options()) as p,
        tft_beam.Context(temp_dir=str(scratch), desired_batch_size=BATCH_SIZE),
    ):
        raw = (
            p
            | "TrainFiles" >> beam.Create([str(f) for f in train_files])
            | "Decode" >> beam.ParDo(_DecodeFile(schema.SerializeToString()))
        )
        transform_fn = (raw, source.TensorAdapterConfig()) | "Analyze" >> tft_beam.AnalyzeDataset(
            checked_preprocessing_fn(cfg)
        )
        _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(str(out.tft_output))
    canonicalize_saved_model(out.tft_output / tft.TFTransformOutput.TRANSFORM_FN_DIR)
    # WriteTransformFn does not write the raw schema; TFTransformOutput.raw_feature_spec() (and
    # the serving signatures built from it) need it under metadata/.
    metadata_io.write_metadata(
        dataset_metadata.DatasetMetadata(schema), str(out.tft_output / tft.TFTransformOutput.RAW_METADATA_DIR)
    )


def _transform(files: dict[str, list[Path]], out: TransformLayout) -> None:
    out.transformed.mkdir(parents=True, exist_ok=True)
    jobs = [
        (str(source), str(out.transformed / f"{split}-{i:05d}-of-{len(files[split]):05d}.tfrecord.gz"))
        for split in TRANSFORMED
        for i, source in enumerate(files[split])
    ]
    with beam.Pipeline(options=pipeline_options()) as p:
        _ = p | "Files" >> beam.Create(jobs) | "Transform" >> beam.ParDo(_TransformFile(str(out.tft_output)))


def _run_beam(cfg: PipelineConfig, roots: Roots, files: dict[str, list[Path]], out: TransformLayout) -> None:
    try:
        with _tft_scratch(SpanPaths(cfg, roots).transform_dir("x").parent) as scratch:
            _analyze(cfg, files["train"], out, scratch)
        _transform(files, out)
    finally:  # free the SavedModels Beam's Shared cache keeps alive (else: at exit, noisily)
        release_shared_objects()


def _rows(
    cfg: PipelineConfig, roots: Roots, spans: list[str], key: str = "rows_out"
) -> dict[str, int] | None:
    """Rows (or, with key="positives", positive labels) per split over the window's ingest
    summaries; None when a summary does not have them (ingested before they were counted)."""
    paths = SpanPaths(cfg, roots)
    rows = dict.fromkeys(cfg.splits, 0)
    for span in spans:
        summary = IngestSummary.read(paths.ingest_summary(span))
        counted = summary.positives if key == "positives" else summary.rows_out
        if counted is None:
            return None
        for split in cfg.splits:
            rows[split] += int(counted.get(split, 0))
    return rows


def _check_enough(cfg: PipelineConfig, sel: SpanSelection, end_span: str) -> None:
    if len(sel.used) < cfg.min_spans:
        raise PipelineError(
            f"only {len(sel.used)} usable span(s) in the window {sel.window[0]}..{sel.window[-1]} "
            f"(missing: {', '.join(sel.missing) or 'none'}; failed validation: "
            f"{', '.join(sel.skipped) or 'none'}); training.min_spans is {cfg.min_spans}",
            span=end_span,
            rule="min-spans",
        )


def run_transform(
    cfg: PipelineConfig, roots: Roots, end_span: str, window: int | None = None, run_id: str | None = None
) -> dict:
    end_span = parse_span(cfg, end_span)
    window = cfg.window_spans if window is None else window
    run_id = run_id or default_run_id(end_span, window)
    out_dir = SpanPaths(cfg, roots).transform_dir(run_id)
    sel = select_spans(cfg, roots, window_ending(cfg, end_span, window))
    _check_enough(cfg, sel, end_span)
    for message in sel.warnings():
        log.warning(message)
    files = {split: split_files(cfg, roots, sel.used, split) for split in cfg.splits}
    rows = _rows(cfg, roots, sel.used) or dict.fromkeys(cfg.splits, 0)
    positives = _rows(cfg, roots, sel.used, "positives")
    classes = class_warnings(rows, positives) if positives is not None else []
    for warning in classes:
        log.warning("%s", warning)
    if rows["train"] == 0:
        raise DataError(
            f"the window's spans hold no train rows ({', '.join(sel.used)})", span=end_span, rule="train-rows"
        )
    with atomic_dir(out_dir) as tmp:
        layout = TransformLayout(tmp)
        _run_beam(cfg, roots, files, layout)
        digest = tree_digest(tmp)
        manifest = {
            "pipeline": cfg.name,
            "run_id": run_id,
            "end_span": end_span,
            "window": window,
            "spans": sel.as_dict(),
            "rows": rows,
            "positives": positives,
            "raw_files": {split: [str(f) for f in files[split]] for split in cfg.splits},
            "raw_eval_patterns": sorted({str(f.parent / "*.tfrecord.gz") for f in files["eval"]}),
            "transform_output": layout.tft_output.name,
            "transformed": {
                split: Path(layout.transformed_pattern(split)).relative_to(tmp).as_posix()
                for split in TRANSFORMED
            },
            "digest": digest,
            "tensorflow": tf.__version__,
            "tensorflow_transform": tft.__version__,
        }
        atomic_write_json(layout.manifest, manifest)
    return {
        "transform_dir": str(out_dir),
        "run_id": run_id,
        "spans_used": sel.used,
        "spans_missing": sel.missing,
        "spans_skipped": sel.skipped,
        "spans_unvalidated": sel.unvalidated,
        "warnings": sel.warnings() + classes,
        "rows": rows,
        "positives": positives,
        "digest": digest,
    }
