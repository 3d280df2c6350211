"""Property-based: CSVs that mix the traits of real files (hypothesis draws them), through
`new-pipeline` -> `check` -> `ingest-spans`. Either every row is accounted for (ingested into
a span's examples) or the scaffold stops with one message and leaves nothing behind.

The example budget is small (`make test` runs it); `derandomize`: the same examples every run,
so a failure reproduces. `ML_HYPOTHESIS_EXAMPLES=50` explores further.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml.cli import run_command
from ml.errors import PipelineError

EXAMPLES = int(os.environ.get("ML_HYPOTHESIS_EXAMPLES", "10"))
START = pd.Timestamp("2014-05-16T00:00:00Z")
FAULTS = (None, None, None, "implausible timestamp", "blank timestamp", "duplicate header")


@dataclass(frozen=True)
class Traits:
    rows: int
    days: int
    timestamps: str  # epoch_s | epoch_ms | zoned | naive | dates
    separator: str
    bom: bool
    gzipped: bool
    title_case: bool  # "Pickup Area" headers
    blank_share: float  # blanks in a whole-number column
    quoted: bool  # a text column whose cells hold the separator, quotes and line breaks
    fault: str | None
    chunk_rows: int  # new-pipeline reads the file this many rows at a time
    seed: int


traits = st.builds(
    Traits,
    rows=st.integers(40, 160),
    days=st.integers(1, 3),
    timestamps=st.sampled_from(["epoch_s", "epoch_ms", "zoned", "naive", "dates"]),
    separator=st.sampled_from([",", ";", "\t"]),
    bom=st.booleans(),
    gzipped=st.booleans(),
    title_case=st.booleans(),
    blank_share=st.sampled_from([0.0, 0.1, 0.5]),
    quoted=st.booleans(),
    fault=st.sampled_from(FAULTS),
    chunk_rows=st.sampled_from([100_000, 16, 37]),
    seed=st.integers(0, 2**16),
)


def stamp_text(stamps: pd.Series, kind: str) -> pd.Series:
    if kind == "epoch_s":
        return (stamps.astype("int64") // 10**9).astype(str)
    if kind == "epoch_ms":
        return (stamps.astype("int64") // 10**6).astype(str)
    if kind == "zoned":
        return stamps.dt.tz_convert("America/Chicago").map(lambda t: t.isoformat())
    if kind == "naive":
        return stamps.dt.strftime("%Y-%m-%d %H:%M:%S")
    return stamps.dt.strftime("%Y-%m-%d")


def write_csv(folder: Path, t: Traits) -> tuple[Path, str, str]:
    """The file, and the names to give as --timestamp-column / --label-column."""
    rng = np.random.default_rng(t.seed)
    seconds = np.sort(rng.integers(0, t.days * 86400, t.rows))
    stamps = pd.Series(START + pd.to_timedelta(seconds, unit="s"))
    area = rng.integers(1, 78, t.rows).astype(str).astype(object)
    area[rng.random(t.rows) < t.blank_share] = ""
    fare = (4 + rng.gamma(2.0, 4.0, t.rows)).round(2)
    card = rng.integers(0, 2, t.rows)
    frame = pd.DataFrame(
        {
            "trip start": stamp_text(stamps, t.timestamps),
            "pickup area": area,
            "pickup zip": rng.choice(["02134", "60601", "00501"], t.rows),
            "paid by card": np.where(card == 1, "true", "false"),
            "fare": fare.astype(str),
            "tip": (0.18 * fare * card + rng.normal(0, 0.4, t.rows)).clip(0).round(2).astype(str),
        }
    )
    if t.quoted:
        frame["company"] = rng.choice([f'Taxi{t.separator} "North"\nLine 2', "Flash Cab"], t.rows)
    if t.fault == "implausible timestamp":
        frame.loc[t.rows // 2, "trip start"] = "0" if t.timestamps.startswith("epoch") else "1970-01-01"
    elif t.fault == "blank timestamp":
        frame.loc[t.rows // 3, "trip start"] = ""
    if t.title_case:
        frame.columns = [c.title() for c in frame.columns]
    text = frame.to_csv(index=False, sep=t.separator)
    if t.fault == "duplicate header":
        header, rest = text.split("\n", 1)
        text = header.replace("fare", "tip").replace("Fare", "Tip") + "\n" + rest
    path = folder / ("trips.csv.gz" if t.gzipped else "trips.csv")
    data = (("\ufeff" if t.bom else "") + text).encode()
    path.write_bytes(gzip.compress(data) if t.gzipped else data)
    return path, frame.columns[0], frame.columns[-2] if t.quoted else frame.columns[-1]


@contextlib.contextmanager
def patched(module, name: str, value) -> Iterator[None]:
    saved = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, saved)


@contextlib.contextmanager
def fresh_world() -> Iterator[Path]:
    """An empty ml/pipelines/ and data root per example (hypothesis reruns the test body)."""
    import ml.config as config

    saved = config.PIPELINES_DIR
    with tempfile.TemporaryDirectory(prefix="ml-prop-") as tmp:
        root = Path(tmp)
        (root / "pipelines").mkdir()
        config.PIPELINES_DIR = root / "pipelines"
        config.load_pipeline.cache_clear()
        try:
            yield root
        finally:
            config.PIPELINES_DIR = saved
            config.load_pipeline.cache_clear()


@pytest.mark.slow
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(t=traits)
def test_real_file_traits_end_with_every_row_accounted_for_or_one_message(t: Traits):
    import ml.scaffold.source

    with fresh_world() as root, patched(ml.scaffold.source, "CHUNK_ROWS", t.chunk_rows):
        csv, timestamp, label = write_csv(root, t)
        roots = ["--data-root", str(root / "data"), "--artifact-root", str(root / "artifacts")]
        args = ["new-pipeline", "trips", "--from-csv", str(csv), "--timestamp-column", timestamp]
        try:
            made = run_command([*args, "--label-column", label, "--cadence", "daily", *roots])
        except PipelineError as err:
            assert t.fault is not None, f"{t}: refused without a planted fault: {err}"
            assert "\n" not in str(err) and err.rule and err.file, err
            assert list((root / "pipelines").iterdir()) == [], "a pipeline folder was left behind"
            assert not (root / "data").exists() or list((root / "data").iterdir()) == [], "debris"
            return
        assert t.fault is None, f"{t}: the planted fault ({t.fault}) was not refused"
        assert len(made["spans"]) == t.days and made["rows"] == t.rows
        assert run_command(["check", "--pipeline", "trips"])["ok"] is True
        result = run_command(["ingest-spans", "--pipeline", "trips", *roots])
        assert result["failed"] == {}, result["failed"]
        assert sum(sum(s["rows_out"].values()) for s in result["spans"]) == t.rows  # every row
