"""`ingest`: one landing span -> validated, train/eval-split, gzipped tf.Example TFRecords."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import pandas as pd

from ml.atomic import atomic_dir
from ml.config import PipelineConfig
from ml.data.derive import add_derived, label_values
from ml.data.examples import serialize_examples
from ml.data.raw import read_raw_span
from ml.data.span_results import IngestSummary
from ml.errors import DataError
from ml.roots import Roots
from ml.spans import INGEST_SUMMARY, SpanPaths, parse_span
from ml.tfrecord import write_tfrecords

SHARD_NAME = "data-00000-of-00001.tfrecord.gz"


@dataclass
class Prepared:
    frame: pd.DataFrame  # features + label, cleaned
    dropped: dict[str, int]
    imputed: dict[str, int]
    key: pd.DataFrame | None = None  # the example key columns of the frame's rows, as landed


def prepare_examples(cfg: PipelineConfig, raw: pd.DataFrame, span: str, file: str) -> Prepared:
    """Derive the module's features, compute the label (rule or module function, ml.data.derive),
    drop unlabeled rows, impute declared defaults, refuse other nulls."""
    raw = add_derived(cfg, raw, span, file)
    label = label_values(cfg, raw, span, file)
    null_fraction = float(label.isna().mean())
    what = f"label source {cfg.label_source!r}" if cfg.label_function is None else f"label {cfg.label!r}"
    if null_fraction > cfg.label_max_null_fraction:
        raise DataError(
            f"{what} is null in {null_fraction:.1%} of rows (max {cfg.label_max_null_fraction:.0%})",
            span=span,
            file=file,
            column=cfg.label_source if cfg.label_function is None else cfg.label,
            rule="label-null-fraction",
        )
    keep = label.notna().to_numpy()
    labeled = raw[keep].reset_index(drop=True)
    unknown = cfg.label_source if cfg.label_function is None else cfg.label
    dropped = {f"{unknown}_missing": int(len(raw) - len(labeled))}
    imputed: dict[str, int] = {}
    out = {}
    for feature in cfg.features:
        values = labeled[feature.name]
        nulls = int(values.isna().sum())
        limit = feature.max_null_fraction
        if limit is not None and len(values) and nulls / len(values) > limit:
            raise DataError(
                f"column {feature.name!r} is missing in {nulls / len(values):.1%} of rows "
                f"({nulls} of {len(values)}; max_null_fraction {limit:.0%})",
                span=span,
                file=file,
                column=feature.name,
                rule="null-fraction",
            )
        if nulls and feature.default is None:
            raise DataError(
                f"column {feature.name!r} has {nulls} missing value(s) and declares no default",
                span=span,
                file=file,
                column=feature.name,
                rule="not-null",
            )
        if nulls:
            values = values.fillna(feature.default)
            imputed[feature.name] = nulls
        out[feature.name] = values
    for column in cfg.example_key:
        if labeled[column].isna().any():
            raise DataError(
                f"example key column {column!r} has missing values",
                span=span,
                file=file,
                column=column,
                rule="key-not-null",
            )
    frame = pd.DataFrame(out)
    frame[cfg.label] = label[keep].reset_index(drop=True).astype("int64")
    frame["__split__"] = split_of(cfg, labeled)
    key = labeled[list(cfg.example_key)].reset_index(drop=True)
    return Prepared(frame=frame, dropped=dropped, imputed=imputed, key=key)


def split_of(cfg: PipelineConfig, frame: pd.DataFrame) -> list[str]:
    """Deterministic assignment: md5 of the example key, mod 100: below eval_percent eval, the
    next test_percent test, the rest train (adding a test split leaves every eval row where it
    was). A span with enough rows for one eval (or test) row (100 / its percent) that drew none
    gets one: the train row whose key hashes lowest (small spans, e.g. 7 days a week, otherwise
    often have no eval row at all)."""
    keys = frame[cfg.example_key].astype(str).agg("|".join, axis=1)
    hashes = [int(hashlib.md5(k.encode()).hexdigest(), 16) for k in keys]
    split = cfg.spec.split
    bands = (("eval", split.eval_percent), ("test", split.eval_percent + split.test_percent))
    splits = [next((name for name, upto in bands if h % 100 < upto), "train") for h in hashes]
    for name, percent in (("eval", split.eval_percent), ("test", split.test_percent)):
        if percent and name not in splits and len(splits) >= math.ceil(100 / percent):
            train = [i for i, s in enumerate(splits) if s == "train"]
            if train:
                splits[min(train, key=hashes.__getitem__)] = name
    return splits


def example_types(cfg: PipelineConfig) -> dict[str, str]:
    types = {f.name: f.type for f in cfg.features}
    types[cfg.label] = "int"
    return types


def ingest_span(cfg: PipelineConfig, roots: Roots, span: str) -> IngestSummary:
    """Ingest one span atomically and idempotently; returns the summary (also written as JSON)."""
    span = parse_span(cfg, span)
    paths = SpanPaths(cfg, roots)
    raw = read_raw_span(cfg, paths.landing_dir(span), span)
    prepared = prepare_examples(cfg, raw.frame, span, str(raw.files[0]))
    types = example_types(cfg)
    rows_out: dict[str, int] = {}
    examples_dir = paths.examples_dir(span)
    with atomic_dir(examples_dir) as tmp:
        for split in cfg.splits:
            part = prepared.frame[prepared.frame["__split__"] == split]
            (tmp / split).mkdir()
            rows_out[split] = write_tfrecords(tmp / split / SHARD_NAME, serialize_examples(part, types))
        summary = IngestSummary(
            pipeline=cfg.name,
            span=span,
            files=[p.name for p in raw.files],
            rows_in=int(len(raw.frame)),
            rows_dropped=prepared.dropped,
            values_imputed=prepared.imputed,
            rows_out=rows_out,
            label_positive_rate=round(float(prepared.frame[cfg.label].mean()), 6)
            if len(prepared.frame)
            else None,
            positives={
                split: int(prepared.frame.loc[prepared.frame["__split__"] == split, cfg.label].sum())
                for split in cfg.splits
            },
        )
        summary.write(tmp / INGEST_SUMMARY)
    return summary.model_copy(update={"examples_dir": str(examples_dir)})
