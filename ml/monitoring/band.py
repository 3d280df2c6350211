"""The alarm band of a realized metric, and a false-alarm rate per span that holds.

A realized value on n labelled predictions is compared with the model's reference value (its
evaluation split, N rows of the slice): the difference of two estimates, each with its own
sampling error, plus how much the metric moves from span to span beyond sampling noise. As
variances (the metric's sampling variance scales as 1/n at a given class balance):

    var = v_N * N / n      the span's sampling noise at n
        + v_N              the reference value's own sampling noise (it is a sample of N rows)
        + tau^2            the between-span variance: the variance of the reference's per-span
                           values, taken at its 90 % upper confidence bound (k spans estimate it
                           loosely), less what sampling explains (>= 0)

where v_N is a bootstrap variance of the metric on N reference rows. The band is the normal
interval around the reference value with probability 1 - 2q; a value below it alarms. (The
point estimate of tau^2 with a t interval holds the rate on simulated spans whose day-to-day
variation is stationary, but alarmed on 5 of 71 real flights days where the upper bound alarmed
on 3, the blizzard of 2013-02-08 and the two days after it: real days vary more than 14 days show.)

One span is checked K times (every alarm slice of every judged version). So that the chance of
a false alarm per span is the configured `monitoring.false_alarm_rate` (alpha), each check uses
q = alpha / K (Bonferroni: it holds whatever the checks' correlation, and is conservative when
they overlap, as Overall and its slices do). tests/unit/test_monitoring_stats.py measures it on
simulated spans with no change; bench/live_alarms.py prints that rate and the detection power.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

MIN_SLICE_ROWS = 30  # fewer reference rows of a slice (or of a slice within one span): no estimate
UPPER_BOUND_LEVEL = 0.1  # the between-span variance at its 90 % upper confidence bound

Metric = Callable[[np.ndarray, np.ndarray], float | None]


def per_check_quantile(false_alarm_rate: float, checks: int) -> float:
    """Bonferroni: the one-sided level of each of `checks` checks for a family-wise rate."""
    return false_alarm_rate / max(1, checks)


@dataclass(frozen=True)
class Spread:
    """How a metric varies on a slice of the reference."""

    center: float  # the metric on all N rows of the slice
    size: int  # N
    sampling_var: float  # v_N: the metric's variance on N rows (bootstrap)
    between_var: float  # tau^2
    spans: int  # k: the reference spans tau^2 was estimated from (0: fewer than 3; 0 added then)

    def variance(self, n: int) -> float:
        return self.sampling_var * self.size / max(n, 1) + self.sampling_var + self.between_var

    def band(self, n: int, quantile: float) -> tuple[float, float]:
        from scipy.stats import norm

        half = float(norm.ppf(1 - quantile)) * self.variance(n) ** 0.5
        return round(max(0.0, self.center - half), 6), round(min(1.0, self.center + half), 6)


def bootstrap_variance(
    fn: Metric, scores: np.ndarray, labels: np.ndarray, resamples: int, seed: int
) -> float | None:
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(scores), size=(resamples, len(scores)))
    kept = [v for i in draws if (v := fn(scores[i], labels[i])) is not None]
    return float(np.var(kept, ddof=1)) if len(kept) >= 2 else None


def between_span_variance(
    fn: Metric, scores: np.ndarray, labels: np.ndarray, spans: np.ndarray, sampling_var: float, size: int
) -> tuple[float, int]:
    """(variance of the per-span metric beyond sampling noise, at its upper confidence bound;
    the spans it was estimated from); (0, 0) below 3 spans of 30+ rows."""
    from scipy.stats import chi2

    values, sizes = [], []
    for span in sorted(set(spans.tolist())):
        part = spans == span
        if int(part.sum()) >= MIN_SLICE_ROWS and (v := fn(scores[part], labels[part])) is not None:
            values.append(v)
            sizes.append(int(part.sum()))
    if len(values) < 3:
        return 0.0, 0
    dof = len(values) - 1
    upper = float(np.var(values, ddof=1)) * dof / float(chi2.ppf(UPPER_BOUND_LEVEL, dof))
    expected_noise = float(np.mean([sampling_var * size / s for s in sizes]))
    return max(0.0, upper - expected_noise), len(values)


def spread(
    fn: Metric, scores: np.ndarray, labels: np.ndarray, spans: np.ndarray, resamples: int, seed: int = 0
) -> Spread | None:
    """The metric's spread on one slice of the reference (None: too few rows, or one class)."""
    if len(scores) < MIN_SLICE_ROWS or len(set(labels.tolist())) < 2:
        return None
    center = fn(scores, labels)
    sampling_var = bootstrap_variance(fn, scores, labels, resamples, seed)
    if center is None or sampling_var is None:
        return None
    between, k = between_span_variance(fn, scores, labels, spans, sampling_var, len(scores))
    return Spread(float(center), len(scores), sampling_var, between, k)
