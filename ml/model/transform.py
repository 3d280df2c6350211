"""`transform`: TFT analyze (train split of the window) + transform (train and eval).

Writes `<artifact_root>/<pipeline>/transforms/<run id>/` atomically:
`transform_output/` (a TFTransformOutput: transform_fn/, transformed_metadata/ and the raw
schema in metadata/), `transformed/{train,eval}-*.tfrecord.gz` and `manifest.json`.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import apache_beam as beam
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils
from tfx_bsl.coders import example_coder
from tfx_bsl.public import tfxio

from ml.atomic import atomic_dir, atomic_write_json, read_json
from ml.beam import pipeline_options, release_shared_objects
from ml.config import PipelineConfig
from ml.errors import PipelineError
from ml.model.features import raw_feature_spec
from ml.model.layout import TransformLayout
from ml.model.preprocessing import checked_preprocessing_fn
from ml.model.window import SpanSelection, select_spans, split_files
from ml.roots import Roots
from ml.spans import SpanPaths, parse_span, window_ending

log = logging.getLogger(__name__)
SPLITS = ("train", "eval")
BATCH_SIZE = 1000


class _EncodeExamples(beam.DoFn):
    """(Arrow RecordBatch, passthrough) -> serialized tf.Examples."""

    def setup(self) -> None:
        self._encoder = example_coder.RecordBatchToExamplesEncoder()

    def process(self, element):
        record_batch, _ = element
        yield from self._encoder.encode(record_batch)


def default_run_id(end_span: str, window: int) -> str:
    return f"{end_span}-w{window}"


def _run_beam(
    cfg: PipelineConfig, files: dict[str, list[Path]], out: TransformLayout, temp_dir: Path
) -> None:
    schema = schema_utils.schema_from_feature_spec(raw_feature_spec(cfg))
    sources = {
        split: tfxio.TFExampleRecord(
            [str(f) for f in files[split]], schema=schema, telemetry_descriptors=["ml-transform"]
        )
        for split in SPLITS
    }
    with (
        beam.Pipeline(options=pipeline_options()) as p,
        tft_beam.Context(temp_dir=str(temp_dir), desired_batch_size=BATCH_SIZE),
    ):
        raw = {split: p | f"Read{split}" >> io.BeamSource() for split, io in sources.items()}
        (xf_train, _), transform_fn = (
            raw["train"],
            sources["train"].TensorAdapterConfig(),
        ) | "AnalyzeAndTransform" >> tft_beam.AnalyzeAndTransformDataset(
            checked_preprocessing_fn(cfg), output_record_batches=True
        )
        xf_eval, _ = (
            (raw["eval"], sources["eval"].TensorAdapterConfig()),
            transform_fn,
        ) | "TransformEval" >> tft_beam.TransformDataset(output_record_batches=True)
        for split, pcoll in (("train", xf_train), ("eval", xf_eval)):
            _ = (
                pcoll
                | f"Encode{split}" >> beam.ParDo(_EncodeExamples())
                | f"Write{split}"
                >> beam.io.WriteToTFRecord(str(out.transformed / split), file_name_suffix=".tfrecord.gz")
            )
        _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(str(out.tft_output))
    # WriteTransformFn does not write the raw schema; TFTransformOutput.raw_feature_spec() (and
    # the serving signatures built from it) need it under metadata/.
    metadata_io.write_metadata(
        dataset_metadata.DatasetMetadata(schema), str(out.tft_output / tft.TFTransformOutput.RAW_METADATA_DIR)
    )


def _rows(cfg: PipelineConfig, roots: Roots, spans: list[str]) -> dict[str, int]:
    paths = SpanPaths(cfg, roots)
    rows = dict.fromkeys(SPLITS, 0)
    for span in spans:
        summary = read_json(paths.ingest_summary(span))
        for split in SPLITS:
            rows[split] += int(summary["rows_out"].get(split, 0))
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
    files = {split: split_files(cfg, roots, sel.used, split) for split in SPLITS}
    rows = _rows(cfg, roots, sel.used)
    if rows["train"] == 0:
        raise PipelineError(
            f"the window's spans hold no train rows ({', '.join(sel.used)})", span=end_span, rule="train-rows"
        )
    with atomic_dir(out_dir) as tmp:
        layout, temp_dir = TransformLayout(tmp), tmp / ".tft-tmp"
        try:
            _run_beam(cfg, files, layout, temp_dir)
        finally:  # free the SavedModels Beam's Shared cache keeps alive (else: at exit, noisily)
            release_shared_objects()
        shutil.rmtree(temp_dir, ignore_errors=True)
        manifest = {
            "pipeline": cfg.name,
            "run_id": run_id,
            "end_span": end_span,
            "window": window,
            "spans": sel.as_dict(),
            "rows": rows,
            "raw_files": {split: [str(f) for f in files[split]] for split in SPLITS},
            "raw_eval_patterns": sorted({str(f.parent / "*.tfrecord.gz") for f in files["eval"]}),
            "transform_output": layout.tft_output.name,
            "transformed": {
                split: Path(layout.transformed_pattern(split)).relative_to(tmp).as_posix() for split in SPLITS
            },
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
        "warnings": sel.warnings(),
        "rows": rows,
    }
