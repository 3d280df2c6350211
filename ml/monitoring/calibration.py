"""Calibrating a model's scores into probabilities for CBPE, only where it helps.

The fit is isotonic regression (scipy.optimize.isotonic_regression, pool adjacent violators)
over the distinct scores: tied scores are pooled first, so a tie group is one point weighted by
its size and gets its own observed rate. Between the fitted points the map interpolates
linearly (flat steps would hide the ranking inside a block from CBPE's expected ROC curve).

Used only where it lowers the expected calibration error out of sample, as NannyML's CBPE
decides (`needs_calibration`): 3-fold cross-validation on the reference, the raw scores' error
against the calibrated ones'; a model that is calibrated already keeps its raw scores (fitting
noise alone would move the estimate). Scores that are NaN or outside [0, 1] are not
probabilities: they are counted and left out (`usable`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ECE_BINS = 10
FOLDS = 3


@dataclass(frozen=True)
class Calibrator:
    """A monotone map score -> probability, linear between points; empty: the identity."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        if not self.x:
            return np.asarray(scores, dtype=float)
        return np.interp(np.asarray(scores, dtype=float), self.x, self.y)  # clipped at both ends

    @property
    def identity(self) -> bool:
        return not self.x

    def as_dict(self) -> dict:
        return {"x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_dict(cls, data: dict) -> Calibrator:
        return cls(tuple(data["x"]), tuple(data["y"]))


IDENTITY = Calibrator((), ())


def usable(scores: np.ndarray) -> np.ndarray:
    """Which scores are probabilities (finite, within [0, 1])."""
    scores = np.asarray(scores, dtype=float)
    return np.isfinite(scores) & (scores >= 0.0) & (scores <= 1.0)


def fit_isotonic(scores: np.ndarray, labels: np.ndarray) -> Calibrator:
    """Isotonic regression of the labels on the scores, tied scores pooled first."""
    from scipy.optimize import isotonic_regression

    scores, labels = np.asarray(scores, float), np.asarray(labels, float)
    if len(scores) == 0:
        return IDENTITY
    distinct, group = np.unique(scores, return_inverse=True)
    weights = np.bincount(group).astype(float)
    rates = np.bincount(group, weights=labels) / weights
    fitted = isotonic_regression(rates, weights=weights, increasing=True).x
    knots = [float(v) for v in np.round(distinct, 7).ravel()]
    values = [float(v) for v in np.round(fitted, 7).ravel()]
    return Calibrator(tuple(knots), tuple(values))


def calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: |mean label - mean probability| per equal-width bin,
    weighted by the bin's share of rows."""
    p, y = np.asarray(probabilities, float), np.asarray(labels, float)
    if len(p) == 0:
        return 0.0
    which = np.minimum((p * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins)
    gap = np.abs(
        np.bincount(which, weights=y, minlength=bins) - np.bincount(which, weights=p, minlength=bins)
    )
    return float(gap.sum() / len(p)) if count.sum() else 0.0


@dataclass(frozen=True)
class Calibration:
    calibrator: Calibrator
    raw_error: float  # out-of-sample expected calibration error of the raw scores
    calibrated_error: float  # ... of the scores calibrated on the other folds

    @property
    def used(self) -> bool:
        return not self.calibrator.identity


def fit_calibration(scores: np.ndarray, labels: np.ndarray, seed: int = 0) -> Calibration:
    """Isotonic calibration when it lowers the out-of-sample calibration error, else the identity."""
    scores, labels = np.asarray(scores, float), np.asarray(labels, int)
    keep = usable(scores)
    scores, labels = scores[keep], labels[keep]
    if len(set(labels.tolist())) < 2 or len(scores) < 2 * FOLDS:
        return Calibration(IDENTITY, 0.0, 0.0)
    fold = np.random.default_rng(seed).permutation(len(scores)) % FOLDS
    calibrated = np.empty(len(scores))
    for k in range(FOLDS):
        calibrated[fold == k] = fit_isotonic(scores[fold != k], labels[fold != k])(scores[fold == k])
    raw_error = calibration_error(scores, labels)
    calibrated_error = calibration_error(calibrated, labels)
    chosen = fit_isotonic(scores, labels) if calibrated_error < raw_error else IDENTITY
    return Calibration(chosen, round(raw_error, 6), round(calibrated_error, 6))
