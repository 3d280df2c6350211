"""Span ids of every cadence (ml.spans over ml.cadence): parsing, ranges, the previous spans,
the training window and the landing layout. Pure Python, no TensorFlow."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt

import pytest

from ml.config import PipelineConfig
from ml.errors import PipelineError
from ml.spans import (
    landing_name,
    parse_span,
    previous_spans,
    shift_span,
    span_of,
    span_of_landing_name,
    span_range,
    window_ending,
)


def with_cadence(cfg: PipelineConfig, cadence: str) -> PipelineConfig:
    raw = copy.deepcopy(cfg.raw)
    raw["span"] = {"cadence": cadence, "start": "2013-01-01"}
    return dataclasses.replace(cfg, raw=raw)


def test_daily_spans_are_unchanged(flights_cfg):
    assert span_range(flights_cfg, "2013-02-27", "2013-03-01") == ["2013-02-27", "2013-02-28", "2013-03-01"]
    assert previous_spans(flights_cfg, "2013-01-03", 7) == ["2013-01-02", "2013-01-01"]  # not before start
    assert window_ending(flights_cfg, "2013-01-14", 14)[0] == "2013-01-01"
    assert landing_name(flights_cfg, "2013-01-05") == "span=2013-01-05"


@pytest.mark.parametrize(
    ("cadence", "span", "after", "before", "holding"),
    [
        ("hourly", "2013-03-10T23", "2013-03-11T00", "2013-03-10T22", dt.datetime(2013, 3, 10, 23, 59)),
        ("weekly", "2013-01-28", "2013-02-04", "2013-01-21", dt.datetime(2013, 2, 3, 12)),  # Mondays
        ("monthly", "2013-12", "2014-01", "2013-11", dt.datetime(2013, 12, 31, 23)),
    ],
)
def test_other_cadences(flights_cfg, cadence, span, after, before, holding):
    cfg = with_cadence(flights_cfg, cadence)
    assert parse_span(cfg, span) == span
    assert shift_span(cfg, span, 1) == after and shift_span(cfg, span, -1) == before
    assert span_range(cfg, before, after) == [before, span, after]
    assert window_ending(cfg, after, 3) == [before, span, after]
    assert previous_spans(cfg, span, 2)[0] == before
    assert span_of(cfg, holding.replace(tzinfo=dt.UTC)) == span
    assert span_of_landing_name(cfg, f"span={span}") == span
    assert span_of_landing_name(cfg, "span=2013-01-01T05:00") is None


def test_monthly_window_counts_months_not_days(flights_cfg):
    cfg = with_cadence(flights_cfg, "monthly")
    assert window_ending(cfg, "2013-12", 12) == [f"2013-{m:02d}" for m in range(1, 13)]
    assert previous_spans(cfg, "2013-03", 12) == ["2013-02", "2013-01"]


@pytest.mark.parametrize(
    ("cadence", "bad"),
    [
        ("daily", "../../etc"),
        ("daily", "2013-02-30"),
        ("daily", "2013-1-5"),
        ("monthly", "2013-01-01"),
        ("weekly", "2013-01-08"),
        ("hourly", "2013-01-01"),
    ],
)
def test_bad_span_ids_are_refused_naming_the_cadence(flights_cfg, cadence, bad):
    with pytest.raises(PipelineError) as err:
        parse_span(with_cadence(flights_cfg, cadence), bad)
    assert err.value.rule == "span-format" and f"not a {cadence} span" in str(err.value)
