"""Calendar arithmetic of the four span cadences (hourly, daily, weekly, monthly), in UTC.

The ground floor under `ml.spans` (which applies it to a pipeline's config) and
`ml.config_schema` (which checks that a pipeline's cadence, span format and cron agree).
A span is the interval `[start, start + step)`; its id is `start` formatted with the cadence's
format: hourly `2013-01-01T05`, daily `2013-01-01`, weekly the Monday `2013-01-07`, monthly
`2013-01`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Cadence:
    name: str
    format: str  # strftime format of a span id
    cron: str  # the default ingest cron: one tick at each span's start
    example: str  # a span id, for messages

    def floor(self, when: dt.datetime) -> dt.datetime:
        """The start of the span holding `when` (naive datetimes are UTC)."""
        when = when.astimezone(dt.UTC) if when.tzinfo else when.replace(tzinfo=dt.UTC)
        start = when.replace(minute=0, second=0, microsecond=0)
        if self.name == "hourly":
            return start
        start = start.replace(hour=0)
        if self.name == "weekly":
            return start - dt.timedelta(days=start.weekday())
        if self.name == "monthly":
            return start.replace(day=1)
        return start

    def start(self, span: str) -> dt.datetime:
        """The start of span `span`; ValueError unless it is a well-formed, aligned span id."""
        when = dt.datetime.strptime(span, self.format).replace(tzinfo=dt.UTC)
        if when.strftime(self.format) != span:
            raise ValueError(f"not written as {self.format} (e.g. {self.example})")
        if self.floor(when) != when:
            raise ValueError(f"{span} is not the start of a {self.name} span (weekly spans start on Mondays)")
        return when

    def span_of(self, when: dt.datetime) -> str:
        return self.floor(when).strftime(self.format)

    def shift(self, span: str, count: int) -> str:
        """The span `count` spans after `span` (before it when negative)."""
        start = self.start(span)
        if self.name == "monthly":
            years, month = divmod(start.month - 1 + count, 12)
            return start.replace(year=start.year + years, month=month + 1).strftime(self.format)
        hours = {"hourly": 1, "daily": 24, "weekly": 24 * 7}[self.name]
        return (start + dt.timedelta(hours=hours * count)).strftime(self.format)


CADENCES = {
    c.name: c
    for c in (
        Cadence("hourly", "%Y-%m-%dT%H", "@hourly", "2013-01-01T05"),
        Cadence("daily", "%Y-%m-%d", "@daily", "2013-01-01"),
        Cadence("weekly", "%Y-%m-%d", "0 0 * * 1", "2013-01-07"),
        Cadence("monthly", "%Y-%m", "@monthly", "2013-01"),
    )
}
CRON_TICKS_CHECKED = 60


def cron_problem(cadence: Cadence, cron: str, start: dt.date) -> str | None:
    """Why `cron` cannot drive one ingest run per span of `cadence` from `start`, or None.

    Each tick's run is the span the tick falls in (its partition key is the tick formatted with
    the span format), so that key must be the span's id and consecutive ticks must fall in
    consecutive spans.
    """
    from croniter import croniter

    first = cadence.floor(dt.datetime.combine(start, dt.time(), dt.UTC))
    ticks = croniter(cron, first - dt.timedelta(seconds=1))
    previous = None
    for _ in range(CRON_TICKS_CHECKED):
        tick = ticks.get_next(dt.datetime)
        span = cadence.span_of(tick)
        if tick.strftime(cadence.format) != span:
            return (
                f"{cron!r} ticks at {tick:%Y-%m-%d %H:%M} ({tick:%A}), whose partition key "
                f"{tick.strftime(cadence.format)} is not a {cadence.name} span id "
                f"(span {span}; e.g. {cadence.cron!r})"
            )
        if previous is not None and span != cadence.shift(previous, 1):
            expected = cadence.shift(previous, 1)
            return (
                f"{cron!r} does not tick once per {cadence.name} span: after span {previous} "
                f"its next tick is in span {span}, not {expected} (e.g. {cadence.cron!r})"
            )
        previous = span
    return None
