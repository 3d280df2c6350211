"""Performance before labels: CBPE (confidence-based performance estimation), and plain metrics.

The documented method (NannyML's CBPE): calibrate the model's scores on reference data with
labels where that helps (ml.monitoring.calibration: isotonic regression on the model's evaluation
split, never its training data); then each prediction's calibrated probability p is the chance
its label is 1, so the expected confusion matrix at a threshold is sums of p and 1 - p, and the
expected ROC curve is those sums cumulated down the model's ranking. It assumes the relation
between score and label stays as in the reference: under concept drift it is wrong, which is why
an estimate only warns.

Implemented here rather than with nannyml (0.13.1 on PyPI): nannyml pins plotly < 6 (the ML
view ships plotly 7's bundled JS) and pulls LightGBM, FLAML, kaleido and s3fs/gcsfs into every
Airflow worker; the method for AUC and accuracy is a few lines of numpy.
"""

from __future__ import annotations

import numpy as np


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
