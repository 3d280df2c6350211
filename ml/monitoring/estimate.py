"""Performance before labels: CBPE (confidence-based performance estimation), and plain metrics.

The documented method (NannyML's CBPE): calibrate the model's scores on reference data with
labels (isotonic regression, fitted on the model's evaluation split, never its training data);
then each prediction's calibrated probability p is the chance its label is 1, so the expected
confusion matrix at a threshold is sums of p and 1 - p, and the expected ROC curve is those sums
cumulated down the model's ranking. It assumes the relation between score and label stays as
in the reference: under concept drift it is wrong, which is why an estimate only warns.

Implemented here rather than with nannyml (0.13.1 on PyPI): nannyml pins plotly < 6 (the ML
view ships plotly 7's bundled JS) and pulls LightGBM, FLAML, kaleido and s3fs/gcsfs into every
Airflow worker; the method for AUC and accuracy is a few lines of numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Calibrator:
    """A monotone step-to-linear map score -> probability (pool-adjacent-violators fit)."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        if not self.x:
            return np.asarray(scores, dtype=float)
        return np.interp(np.asarray(scores, dtype=float), self.x, self.y)  # clipped at both ends

    def as_dict(self) -> dict:
        return {"x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_dict(cls, data: dict) -> Calibrator:
        return cls(tuple(data["x"]), tuple(data["y"]))


def fit_isotonic(scores: np.ndarray, labels: np.ndarray) -> Calibrator:
    """Isotonic regression of labels on scores (pool adjacent violators). The map interpolates
    linearly between the blocks' mean scores rather than keeping each block flat: flat steps
    would hide the ranking inside a block from the expected ROC curve and bias CBPE's AUC down."""
    order = np.argsort(scores, kind="mergesort")
    x, y = np.asarray(scores, float)[order], np.asarray(labels, float)[order]
    values: list[float] = []  # per block: mean label, weight, sum of scores
    weights: list[float] = []
    sums: list[float] = []
    for xi, yi in zip(x, y, strict=True):
        values.append(yi)
        weights.append(1.0)
        sums.append(xi)
        while len(values) > 1 and values[-2] >= values[-1]:
            w = weights[-2] + weights[-1]
            values[-2] = (values[-2] * weights[-2] + values[-1] * weights[-1]) / w
            weights[-2] = w
            sums[-2] += sums[-1]
            del values[-1], weights[-1], sums[-1]
    xs = [round(total / w, 7) for total, w in zip(sums, weights, strict=True)]
    return Calibrator(tuple(xs), tuple(round(v, 7) for v in values))


def auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """ROC AUC (Mann-Whitney, ties count half); None without both classes."""
    labels = np.asarray(labels, dtype=int)
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if not positives or not negatives:
        return None
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def expected_auc(scores: np.ndarray, probabilities: np.ndarray) -> float | None:
    """CBPE's ROC AUC: expected TPR/FPR cumulated down the model's ranking (ties as one step)."""
    scores, p = np.asarray(scores, float), np.asarray(probabilities, float)
    if len(p) == 0 or p.sum() <= 0 or (1 - p).sum() <= 0:
        return None
    order = np.argsort(-scores, kind="mergesort")
    s, p = scores[order], p[order]
    last_of_tie = np.r_[s[1:] != s[:-1], True]
    tpr = np.r_[0.0, np.cumsum(p)[last_of_tie] / p.sum()]
    fpr = np.r_[0.0, np.cumsum(1 - p)[last_of_tie] / (1 - p).sum()]
    return float(np.trapz(tpr, fpr))


def expected_accuracy(scores: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5) -> float | None:
    if len(scores) == 0:
        return None
    p = np.asarray(probabilities, float)
    return float(np.where(np.asarray(scores) >= threshold, p, 1 - p).mean())


def accuracy(scores: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> float | None:
    if len(scores) == 0:
        return None
    return float(((np.asarray(scores) >= threshold).astype(int) == np.asarray(labels, int)).mean())


ESTIMATORS = {"auc": expected_auc, "binary_accuracy": expected_accuracy}
REALIZED = {"auc": auc, "binary_accuracy": accuracy}


def estimate(metric: str, scores: np.ndarray, probabilities: np.ndarray) -> float | None:
    """The CBPE estimate of `metric` (auc | binary_accuracy) over logged scores and their
    calibrated probabilities (each row by the calibrator of the version that answered it)."""
    fn = ESTIMATORS.get(metric)
    return None if fn is None else fn(scores, probabilities)


def js_divergence(a: np.ndarray, b: np.ndarray, bins: int = 20) -> float | None:
    """Jensen-Shannon divergence (base 2, 0..1) of two score samples on [0, 1] in equal bins."""
    if len(a) == 0 or len(b) == 0:
        return None
    edges = np.linspace(0.0, 1.0, bins + 1)
    p = np.histogram(np.clip(a, 0, 1), edges)[0] + 1e-9
    q = np.histogram(np.clip(b, 0, 1), edges)[0] + 1e-9
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    return float(0.5 * (p * np.log2(p / m)).sum() + 0.5 * (q * np.log2(q / m)).sum())
