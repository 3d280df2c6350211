"""Request ids and the event time they carry.

A prediction's request id is its ground-truth key's values joined by `|` (`monitoring.labels.key`,
default the example key), e.g. `2013|1|15|UA|1545|EWR|515`: the labels that land later carry the
same key, so they join. With `monitoring.event_time.id_columns` the id also says when the event
is (the flight's date), which decides the prediction's span: a flight scored the day before it
departs is logged, and judged, with that day's labels.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ml.config import PipelineConfig

ID_SEPARATOR = "|"


def _instant(text: str) -> dt.datetime:
    """One column's value: ISO 8601 (a date or a time; no zone: UTC) or epoch seconds."""
    try:
        parsed = dt.datetime.fromtimestamp(float(text), dt.UTC)
    except ValueError:
        parsed = dt.datetime.fromisoformat(text)
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def event_time_of_id(cfg: PipelineConfig, request_id: str) -> dt.datetime | None:
    """The event time the id's `event_time.id_columns` hold (None: not configured, or an id not
    made of the key, such as a generated one)."""
    spec = cfg.monitoring.event_time
    if spec is None:
        return None
    key = cfg.ground_truth_key
    parts = request_id.split(ID_SEPARATOR)
    if len(parts) != len(key):
        return None
    values = [parts[key.index(column)] for column in spec.id_columns]
    try:
        if len(values) == 1:
            return _instant(values[0])
        year, month, day, hour = ([int(float(v)) for v in values] + [0])[:4]
        return dt.datetime(year, month, day, hour, tzinfo=dt.UTC)
    except (ValueError, OverflowError, OSError, TypeError):
        return None
