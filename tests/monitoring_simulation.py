"""Simulated spans for the monitor's statistics (tests/unit/test_monitoring_stats.py, bench/live_alarms.py).

A flights-like generative model: each prediction has an origin (EWR, JFK, LGA), a true delay
probability p drawn from the origin's Beta distribution, a label drawn from p, and the model's
score p (a well-ranked, calibrated model with AUC around 0.78). Days differ beyond sampling
noise, as flights days do: on each span a share of the labels, uniform in [0, DAY_TO_DAY], is
drawn independently of the score (a day the score tells less). A reference is the model's
"evaluation split": 14 such spans. A span with no change is drawn the same way; a span with a
planted drop has that share raised by `unrelated`, which lowers its AUC by about
unrelated x (AUC - 0.5), ~0.28 x unrelated. Every span is judged by
the monitor's own code (ml.monitoring.judge) with the flights alarm slices.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.config_schema import Monitoring
from ml.monitoring.band import per_check_quantile
from ml.monitoring.estimate import auc
from ml.monitoring.judge import REALIZED, checked, judge_group
from ml.monitoring.reference import Reference

ORIGINS = {"EWR": (0.35, 1.2, 3.0), "JFK": (0.33, 1.0, 3.5), "LGA": (0.32, 1.1, 2.5)}  # share, Beta a, b
DAY_TO_DAY = 0.2  # a span's share of labels unrelated to the score: uniform in [0, DAY_TO_DAY]
SLICES = ["Overall", "origin=EWR", "origin=JFK", "origin=LGA"]


def draw(
    rng: np.random.Generator, n: int, unrelated: float = 0.0, day_to_day: float = DAY_TO_DAY
) -> pd.DataFrame:
    """One span of n predictions; `unrelated`: a planted drop (more labels ignore the score)."""
    unrelated = min(1.0, unrelated + rng.uniform(0.0, day_to_day))
    names = list(ORIGINS)
    shares = np.array([ORIGINS[o][0] for o in names])
    origin = rng.choice(len(names), size=n, p=shares / shares.sum())
    a = np.array([ORIGINS[names[i]][1] for i in origin])
    b = np.array([ORIGINS[names[i]][2] for i in origin])
    p = rng.beta(a, b)
    y = (rng.random(n) < p).astype(int)
    if unrelated:
        lost = rng.random(n) < unrelated
        y[lost] = (rng.random(int(lost.sum())) < p.mean()).astype(int)
    return pd.DataFrame(
        {"score": np.round(p, 6), "y": pd.array(y, dtype="Int64"), "origin": np.array(names)[origin]}
    )


def reference(rng: np.random.Generator, spans: int = 14, rows_per_span: int = 180) -> Reference:
    frames = [draw(rng, rows_per_span).assign(span=f"2013-01-{d + 1:02d}") for d in range(spans)]
    data = pd.concat(frames, ignore_index=True)
    return Reference.of(
        {
            "scores": data["score"].tolist(),
            "labels": data["y"].astype(int).tolist(),
            "columns": {"origin": data["origin"].tolist()},
            "spans": data["span"].tolist(),
        }
    )


def judge(spec: Monitoring, ref: Reference, rows: pd.DataFrame) -> dict:
    """The monitor's realized verdict on one simulated span (exact AUC for TFMA's)."""
    realized = {}
    for name in spec.alarm_slices:
        part = rows if name == "Overall" else rows[rows["origin"] == name.split("=", 1)[1]]
        realized[name] = {"auc": auc(part["score"].to_numpy(), part["y"].astype(int).to_numpy())}
    quantile = per_check_quantile(spec.false_alarm_rate, checked(spec, rows, REALIZED))
    probabilities = ref.calibrator(rows["score"].to_numpy(dtype=float))
    return judge_group(spec, rows, realized, ref, probabilities, quantile, stage=REALIZED, partial=False)


def alarm_rate(
    spec: Monitoring, n: int, spans: int, references: int, unrelated: float = 0.0, seed: int = 0
) -> float:
    """The share of simulated spans of n predictions that alarm (each reference judges
    spans / references of them)."""
    rng = np.random.default_rng(seed)
    alarmed = 0
    for _ in range(references):
        ref = reference(rng)
        for _ in range(spans // references):
            alarmed += bool(judge(spec, ref, draw(rng, n, unrelated))["alarms"])
    return alarmed / (spans // references * references)


def flights_spec(**changes) -> Monitoring:
    """The flights pipeline's alarm settings (slices, min_labelled, false_alarm_rate, bootstrap)."""
    from ml.config import load_pipeline

    spec = load_pipeline("flights").monitoring
    return spec.model_copy(update=changes)
