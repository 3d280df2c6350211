"""The live model's statistics, as unit tests (numpy, no TensorFlow): the calibration, CBPE's
bias, the alarm band and its false-alarm rate on simulated spans with no change, the two stages
of a verdict, partial spans, withdrawn alarms (ml/monitoring/calibration.py, band.py, judge.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from monitoring_simulation import alarm_rate, draw, flights_spec, reference

from ml.monitoring.band import per_check_quantile
from ml.monitoring.calibration import calibration_error, fit_calibration, fit_isotonic, usable
from ml.monitoring.estimate import auc, expected_auc
from ml.monitoring.judge import ESTIMATED, REALIZED, checked, judge_group


def test_isotonic_fit_pools_tied_scores_before_pooling_violators():
    # a tie group at 0.5 whose true rate is 0.2 (1 of 5), between groups at 0.0 and 1.0
    scores = np.array([0.1] * 4 + [0.5] * 5 + [0.9] * 4)
    labels = np.array([0, 0, 0, 0] + [1, 0, 0, 0, 0] + [1, 1, 1, 0])
    calibrator = fit_isotonic(scores, labels)
    assert calibrator.x == (0.1, 0.5, 0.9)  # one knot per distinct score: no duplicate knots
    assert calibrator.y == pytest.approx((0.0, 0.2, 0.75))
    assert calibrator(np.array([0.5]))[0] == pytest.approx(0.2)  # the tie group's own rate


def test_calibration_is_used_only_where_it_lowers_the_out_of_sample_error():
    rng = np.random.default_rng(1)
    p = rng.beta(1.2, 3.0, 5000)
    y = (rng.random(5000) < p).astype(int)
    calibrated_already = fit_calibration(p, y)
    assert not calibrated_already.used  # fitting noise would only move the estimate
    overconfident = fit_calibration(p**3, y)  # ranks right, probabilities far too low
    assert overconfident.used and overconfident.calibrated_error < overconfident.raw_error
    assert calibration_error(overconfident.calibrator(p**3), y) < calibration_error(p**3, y)


def test_scores_that_are_not_probabilities_are_not_usable():
    assert usable(np.array([0.0, 0.5, 1.0, np.nan, -0.1, 1.2, np.inf])).tolist() == [1, 1, 1, 0, 0, 0, 0]


def test_cbpe_auc_is_unbiased_when_fed_true_probabilities():
    rng = np.random.default_rng(2)
    errors = []
    for _ in range(300):
        p = rng.beta(1.2, 3.0, 900)
        y = (rng.random(900) < p).astype(int)
        errors.append(expected_auc(p, p) - auc(p, y))
    assert abs(float(np.mean(errors))) <= 0.005  # bias
    assert float(np.std(errors)) < 0.03  # and a sampling error of the span's size


@pytest.mark.slow  # ~20-40 s each: 2,000 spans judged by the monitor's own code
@pytest.mark.parametrize("n", [300, 900])
def test_a_span_with_no_change_alarms_at_the_configured_rate(n):
    """2,000 simulated spans drawn like the reference, with the flights alarm slices (Overall and
    three origins) and false_alarm_rate 0.01: the share that alarms is at most 1.5 x 0.01 (the
    reference's own sampling error is in the band; Bonferroni over the span's checks)."""
    spec = flights_spec(false_alarm_rate=0.01)
    rate = alarm_rate(spec, n, spans=2000, references=20, seed=n)
    assert rate <= 1.5 * spec.false_alarm_rate, rate


def test_a_large_planted_drop_is_detected_and_none_without_one():
    """Labels no longer following the scores on 80 % of a span's rows (AUC ~0.2 lower): nearly
    every span alarms; the same spans without the drop: none (bench/live_alarms.py measures the
    power for drops of 0.05 and 0.10)."""
    spec = flights_spec(false_alarm_rate=0.01)
    assert alarm_rate(spec, 900, spans=60, references=3, unrelated=0.8, seed=9) >= 0.9
    assert alarm_rate(spec, 900, spans=120, references=12, seed=9) <= 0.05


def test_the_per_check_level_divides_the_span_rate_by_its_checks():
    assert per_check_quantile(0.01, 4) == pytest.approx(0.0025)
    assert per_check_quantile(0.01, 0) == pytest.approx(0.01)
    rows = draw(np.random.default_rng(3), 450)
    spec = flights_spec()
    assert checked(spec, rows, REALIZED) == 1  # only Overall has min_labelled (200) rows
    assert checked(spec, draw(np.random.default_rng(3), 900), REALIZED) == 4


def _verdict(rows, stage=REALIZED, partial=False, unrelated_realized=False):
    spec = flights_spec()
    ref = reference(np.random.default_rng(4))
    realized = {}
    for name in spec.alarm_slices:
        part = rows if name == "Overall" else rows[rows["origin"] == name.split("=", 1)[1]]
        labelled = part[part["y"].notna()]
        value = (
            auc(labelled["score"].to_numpy(), labelled["y"].astype(int).to_numpy()) if len(labelled) else None
        )
        realized[name] = {"auc": value}
    quantile = per_check_quantile(spec.false_alarm_rate, 4)
    probabilities = ref.calibrator(rows["score"].to_numpy(dtype=float))
    return judge_group(spec, rows, realized, ref, probabilities, quantile, stage=stage, partial=partial)


def test_a_real_drop_alarms_when_complete_and_only_warns_when_partial_or_estimated():
    rng = np.random.default_rng(5)
    rows = draw(rng, 900, unrelated=0.6)
    complete = _verdict(rows)
    assert complete["alarms"] and complete["realized"] < complete["band"][0]
    partial = _verdict(rows, partial=True)
    assert not partial["alarms"] and any("labels are partial" in w for w in partial["warnings"])
    unlabelled = rows.assign(y=pd.array([pd.NA] * len(rows), dtype="Int64"))
    estimated = _verdict(unlabelled, stage=ESTIMATED)
    assert not estimated["alarms"] and estimated["realized"] is None
    assert estimated["slices"][0]["predictions"] == 900 and estimated["slices"][0]["labelled"] == 0


def test_an_estimated_drop_warns_before_any_label():
    """The scores themselves moved (a new kind of traffic, scored low and right): CBPE sees the
    drop in expected AUC on the predictions alone."""
    rng = np.random.default_rng(6)
    rows = draw(rng, 900)
    rows["score"] = np.round(0.05 + 0.02 * rng.random(len(rows)), 6)  # all nearly the same score
    rows["y"] = pd.array([pd.NA] * len(rows), dtype="Int64")
    verdict = _verdict(rows, stage=ESTIMATED)
    assert verdict["estimated"] < verdict["band"][0]
    assert any("estimated auc" in w and "the labels will tell" in w for w in verdict["warnings"])


def test_the_estimation_error_compares_the_estimate_and_the_realized_value_on_the_same_rows():
    rng = np.random.default_rng(7)
    rows = draw(rng, 900)
    rows.loc[rows.index[::3], "y"] = pd.NA  # a third still without a label
    verdict = _verdict(rows)
    assert verdict["estimated_labelled"] != verdict["estimated"]
    assert verdict["estimation_error"] == pytest.approx(
        verdict["estimated_labelled"] - verdict["realized"], abs=1e-6
    )


def test_feature_skew_joins_each_served_example_with_the_same_example_as_ingested():
    from ml.config import load_pipeline
    from ml.monitoring.served_inputs import feature_skew

    cfg = load_pipeline("flights")
    ingested = pd.DataFrame(
        {"carrier": ["UA", "AA", "DL"], "dep_delay": [2.0, 0.0, 15.5], "temp": [39.02, 40.0, 41.0]},
        index=["k1", "k2", "k3"],
    )
    served = pd.DataFrame(
        {
            "request_id": ["k1", "k2", "k3", "k4", "k1"],  # k4 was never ingested; k1 logged twice
            "carrier": ["UA", "AA", "WN", "UA", "UA"],  # k3: another carrier than ingested
            "dep_delay": [2.0, None, 15.5, 1.0, 2.0],  # k2: sent nothing, ingest imputed 0.0
            "temp": [float(np.float32(39.02)), 40.0, 41.0, 1.0, 39.02],  # float32 in the log: the same
        }
    )
    skew = feature_skew(cfg, served, ingested)
    assert skew["served"] == 4 and skew["joined"] == 3
    features = skew["features"]
    assert features["carrier"]["examples"] == ["k3"] and features["carrier"]["mismatches"] == 1
    assert features["carrier"]["rate"] == pytest.approx(1 / 3, abs=1e-6)
    assert features["dep_delay"]["examples"] == ["k2"] and features["temp"]["mismatches"] == 0
