"""The model's reference: its scores on its own evaluation split, with labels and slice columns.

Written by `evaluate` beside the blessing (`<evaluation dir>/reference.json`), so the model that
is pushed carries it. The monitor takes from it the CBPE calibration (never fitted on training
data), the alarm band of a metric at a span's sample size (bootstrap: what the metric looks like
on `n` labelled predictions when the model performs as it did in evaluation) and the score
distribution that prediction drift is measured against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ml.config import PipelineConfig
from ml.model.gate import CANDIDATE
from ml.model.layout import MONITORING_REFERENCE
from ml.model.slices import OVERALL
from ml.model.tfma_inputs import EvalRows
from ml.monitoring.band import Spread, spread
from ml.monitoring.calibration import Calibration, Calibrator, fit_calibration
from ml.monitoring.estimate import REALIZED, auc

REFERENCE_FILE = MONITORING_REFERENCE  # beside the evaluation (ml.model.layout.EvaluationLayout)


def reference_columns(cfg: PipelineConfig) -> list[str]:
    """Single-column slices of the evaluation and of the alarm slices."""
    columns = [keys[0] for keys in cfg.eval_sliced if len(keys) == 1]
    columns += [s.split("=", 1)[0] for s in cfg.monitoring.alarm_slices if s != OVERALL]
    return list(dict.fromkeys(columns))


def build_reference(cfg: PipelineConfig, model, files: list[Path]) -> dict:
    """Score every eval example of `files` with `model` (ml.model.predict.ServingModel)."""
    rows = EvalRows.read(cfg, files)
    rows.score({CANDIDATE: model})
    return reference_of(cfg, rows)


def reference_of(cfg: PipelineConfig, rows: EvalRows) -> dict:
    """The reference of the eval rows the candidate scored (`rows.scores[candidate]`): what
    `evaluate` writes beside its blessing without reading or scoring anything twice."""
    scores = rows.scores[CANDIDATE]
    labels = rows.labels
    columns = {
        c: [None if v is None else str(v) for v in rows.column(c, cfg.feature(c).type)]
        for c in reference_columns(cfg)
    }
    calibration = fit_calibration(scores, np.asarray(labels))
    return {
        "rows": len(rows.records),
        "scores": [round(float(s), 6) for s in scores],
        "labels": labels,
        "columns": columns,
        "spans": rows.spans,
        "calibrator": calibration.calibrator.as_dict(),
        "calibration": calibration_summary(calibration),
        "auc": auc(scores, np.asarray(labels)),
    }


def calibration_summary(calibration: Calibration) -> dict:
    return {
        "used": calibration.used,
        "raw_error": calibration.raw_error,
        "calibrated_error": calibration.calibrated_error,
    }


@dataclass
class Reference:
    """The reference of one model version; the calibration is fitted when it is read (the rule
    that decides it may improve; the scores and labels it is fitted on do not change)."""

    scores: np.ndarray
    labels: np.ndarray
    columns: dict[str, np.ndarray]
    spans: np.ndarray
    calibration: Calibration
    spreads: dict[tuple[str, str, int], Spread | None] = field(default_factory=dict)

    @property
    def calibrator(self) -> Calibrator:
        return self.calibration.calibrator

    @classmethod
    def of(cls, data: dict) -> Reference:
        rows = len(data["scores"])
        scores, labels = np.asarray(data["scores"], float), np.asarray(data["labels"], int)
        return cls(
            scores,
            labels,
            {c: np.asarray(v, dtype=object) for c, v in data["columns"].items()},
            np.asarray(data.get("spans") or [""] * rows, dtype=object),
            fit_calibration(scores, labels),
        )

    def mask(self, slice_name: str) -> np.ndarray | None:
        """Rows of a slice (`Overall`, `origin=EWR`); None when the reference lacks its column."""
        if slice_name == OVERALL:
            return np.ones(len(self.scores), dtype=bool)
        column, value = slice_name.split("=", 1)
        if column not in self.columns:
            return None
        return self.columns[column] == value

    def spread(self, metric: str, slice_name: str, resamples: int) -> Spread | None:
        """How `metric` varies on the slice (ml.monitoring.band), computed once per reference."""
        key = (metric, slice_name, resamples)
        if key not in self.spreads:
            fn, mask = REALIZED.get(metric), self.mask(slice_name)
            found = None
            if fn is not None and mask is not None:
                found = spread(fn, self.scores[mask], self.labels[mask], self.spans[mask], resamples)
            self.spreads[key] = found
        return self.spreads[key]

    def band(
        self, metric: str, slice_name: str, n: int, quantile: float, resamples: int
    ) -> tuple[float, float] | None:
        """Where `metric` on `n` labelled predictions of the slice falls, with probability
        1 - 2 * quantile, when the model performs as in its evaluation (ml.monitoring.band)."""
        found = self.spread(metric, slice_name, resamples) if n >= 1 else None
        return found.band(n, quantile) if found is not None else None
