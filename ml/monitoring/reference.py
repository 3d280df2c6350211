"""The model's reference: its scores on its own evaluation split, with labels and slice columns.

Written by `evaluate` beside the blessing (`<evaluation dir>/reference.json`), so the model that
is pushed carries it. The monitor takes from it the CBPE calibration (never fitted on training
data), the alarm band of a metric at a span's sample size (bootstrap: what the metric looks like
on `n` labelled predictions when the model performs as it did in evaluation) and the score
distribution that prediction drift is measured against.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.config import PipelineConfig
from ml.model.slices import OVERALL
from ml.model.tf_example import decode_example
from ml.monitoring.estimate import REALIZED, Calibrator, auc, fit_isotonic
from ml.tfrecord import read_tfrecords

REFERENCE_FILE = "reference.json"
MIN_REFERENCE_ROWS = 30  # fewer rows of a slice in the reference: no band for it
UPPER_BOUND_LEVEL = 0.1  # the between-span variance at its 90 % upper confidence bound


def reference_columns(cfg: PipelineConfig) -> list[str]:
    """Single-column slices of the evaluation and of the alarm slices."""
    columns = [keys[0] for keys in cfg.eval_sliced if len(keys) == 1]
    columns += [s.split("=", 1)[0] for s in cfg.monitoring.alarm_slices if s != OVERALL]
    return list(dict.fromkeys(columns))


def _text(value) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def span_of_file(file: Path) -> str:
    """The span of an ingested shard (`.../spans/<span>/examples/<split>/<shard>`)."""
    return file.parents[2].name


def build_reference(cfg: PipelineConfig, model, files: list[Path]) -> dict:
    """Score every eval example of `files` with `model` (ml.model.predict.ServingModel)."""
    pairs = [(span_of_file(f), r) for f in files for r in read_tfrecords(f)]
    records = [r for _, r in pairs]
    scores = model.predict_serialized(records) if records else np.zeros(0)
    decoded = [decode_example(r) for r in records]
    labels = [int(e[cfg.label][1][0]) for e in decoded]
    columns = {
        c: [_text(e[c][1][0]) if c in e and e[c][1] else None for e in decoded]
        for c in reference_columns(cfg)
    }
    calibrator = fit_isotonic(scores, np.asarray(labels)) if len(set(labels)) == 2 else Calibrator((), ())
    return {
        "rows": len(records),
        "scores": [round(float(s), 6) for s in scores],
        "labels": labels,
        "columns": columns,
        "spans": [span for span, _ in pairs],
        "calibrator": calibrator.as_dict(),
        "auc": auc(scores, np.asarray(labels)),
    }


@dataclass
class Reference:
    scores: np.ndarray
    labels: np.ndarray
    columns: dict[str, np.ndarray]
    spans: np.ndarray
    calibrator: Calibrator

    @classmethod
    def of(cls, data: dict) -> Reference:
        rows = len(data["scores"])
        return cls(
            np.asarray(data["scores"], float),
            np.asarray(data["labels"], int),
            {c: np.asarray(v, dtype=object) for c, v in data["columns"].items()},
            np.asarray(data.get("spans") or [""] * rows, dtype=object),
            Calibrator.from_dict(data["calibrator"]),
        )

    def mask(self, slice_name: str) -> np.ndarray | None:
        """Rows of a slice (`Overall`, `origin=EWR`); None when the reference lacks its column."""
        if slice_name == OVERALL:
            return np.ones(len(self.scores), dtype=bool)
        column, value = slice_name.split("=", 1)
        if column not in self.columns:
            return None
        return self.columns[column] == value

    def band(
        self, metric: str, slice_name: str, n: int, quantile: float, resamples: int, seed: int = 0
    ) -> tuple[float, float] | None:
        """Where `metric` on `n` labelled predictions of the slice falls, with probability
        1 - 2 * quantile, when the model performs as in its evaluation.

        Two sources of spread, added as variances (a normal band around the bootstrap mean, clipped
        to [0, 1]): sampling noise at `n` (bootstrap of `n` reference rows) and how much the
        metric moves from span to span beyond its sampling noise (the variance of the reference's
        per-span values, taken at its 90 % upper confidence bound since a few spans estimate it
        loosely, less the sampling variance expected at each span's size). Sampling noise alone
        would alarm on ordinary day-to-day variation."""
        fn = REALIZED.get(metric)
        mask = self.mask(slice_name)
        if fn is None or mask is None or n < 1 or int(mask.sum()) < MIN_REFERENCE_ROWS:
            return None
        scores, labels, spans = self.scores[mask], self.labels[mask], self.spans[mask]
        if len(set(labels.tolist())) < 2:
            return None
        rng = np.random.default_rng(seed)
        draws = rng.integers(0, len(scores), size=(resamples, n))
        kept = [v for i in draws if (v := fn(scores[i], labels[i])) is not None]
        if len(kept) < 2:
            return None
        center, sampling_var = float(np.mean(kept)), float(np.var(kept, ddof=1))
        variance = sampling_var + self.between_span_variance(fn, scores, labels, spans, n, sampling_var)
        from scipy.stats import norm

        half = float(norm.ppf(1 - quantile)) * variance**0.5
        return round(max(0.0, center - half), 6), round(min(1.0, center + half), 6)

    @staticmethod
    def between_span_variance(fn, scores, labels, spans, n: int, sampling_var_at_n: float) -> float:
        """Variance of the per-span metric beyond sampling noise (0 below 3 spans)."""
        from scipy.stats import chi2

        values, sizes = [], []
        for span in sorted(set(spans.tolist())):
            part = spans == span
            if int(part.sum()) >= MIN_REFERENCE_ROWS and (v := fn(scores[part], labels[part])) is not None:
                values.append(v)
                sizes.append(int(part.sum()))
        if len(values) < 3:
            return 0.0
        dof = len(values) - 1
        upper = float(np.var(values, ddof=1)) * dof / float(chi2.ppf(UPPER_BOUND_LEVEL, dof))
        expected_noise = float(np.mean([sampling_var_at_n * n / size for size in sizes]))
        return max(0.0, upper - expected_noise)
