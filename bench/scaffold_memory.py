"""Peak memory of `new-pipeline` on a CSV 1x and Nx as large, read in chunks and read whole.

    .venv/bin/python bench/scaffold_memory.py [--rows 500000] [--times 8] [--smoke]

Writes a taxi-like CSV (epoch seconds that repeat, integers with blanks, zip codes, true/false,
free text, fares) of `--rows` rows and one `--times` as long, then scaffolds each in a fresh
process (private ML_PIPELINES_DIR and data root), side by side:
(a) as shipped: the file read CHUNK_ROWS rows at a time (ml/scaffold/scan.py);
(b) the whole file as one chunk (what new-pipeline did before: every cell in memory at once).
Peak RSS of each process comes from os.wait4. The process imports TFDV for the schema, so
its floor (measured on a 1,000-row file) is several hundred MB whatever the file; the growth
above that floor is what a file costs (a file of the floor's size, --smoke's small one, is
measured once). Last lines: `growth ratio (large / small), chunked = X.XX` against the file
size ratio (1.0 would be flat), and the large file's growth and peak chunked / whole.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _smoke import parse_args

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024**2
WRITE_ROWS = 100_000
FLOOR_ROWS = 1000

SCAFFOLD = """
import json, sys
import ml.scaffold.source
if sys.argv[2] == "whole":
    ml.scaffold.source.CHUNK_ROWS = 10**12
from ml.cli import run_command
made = run_command(["new-pipeline", "trips", "--from-csv", sys.argv[1], "--timestamp-column", "trip_start",
                    "--label-column", "tip", "--cadence", "monthly", "--data-root", sys.argv[3]])
print(json.dumps({"rows": made["rows"], "spans": len(made["spans"]), "key": made["example_key"]}))
"""


def write_trips(path: Path, rows: int, seed: int = 7) -> None:
    """`rows` trips over four years, written WRITE_ROWS at a time."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2013-01-01", tz="UTC").value // 10**9
    with path.open("w") as fh:
        for first in range(0, rows, WRITE_ROWS):
            n = min(WRITE_ROWS, rows - first)
            area = rng.integers(1, 78, n).astype(str).astype(object)
            area[rng.random(n) < 0.1] = ""
            fare = (4 + rng.gamma(2.0, 4.0, n)).round(2)
            frame = pd.DataFrame(
                {
                    "trip_start": start + rng.integers(0, 4 * 365 * 86400 // 900, n) * 900,
                    "taxi_id": rng.integers(0, 10**9, n),
                    "pickup_community_area": area,
                    "pickup_zip": rng.choice(["02134", "60601", "00501", "60614"], n),
                    "paid_by_card": rng.choice(["true", "false"], n),
                    "company": rng.choice(["Flash Cab", 'Taxi Affiliation, "North"', "Sun Taxi"], n),
                    "fare": fare,
                    "tip": (0.18 * fare * rng.random(n)).round(2),
                }
            )
            frame.to_csv(fh, header=first == 0, index=False)


def scaffold(csv: Path, how: str, work: Path) -> dict:
    """One `new-pipeline` in a fresh process: its result, peak RSS (MiB) and wall seconds."""
    pipelines, data = work / f"pipelines-{how}-{csv.stem}", work / f"data-{how}-{csv.stem}"
    pipelines.mkdir()
    env = {**os.environ, "ML_PIPELINES_DIR": str(pipelines), "TF_CPP_MIN_LOG_LEVEL": "3"}
    began = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", SCAFFOLD, str(csv), how, str(data)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        out.seek(0)
        text = out.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"new-pipeline ({how}) on {csv.name} failed: {text}")
    return {
        **json.loads(text.strip().splitlines()[-1]),
        "peak_mib": usage.ru_maxrss / 1024,
        "seconds": time.perf_counter() - began,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000, help="rows of the small file")
    parser.add_argument("--times", type=int, default=8, help="the large file has rows x times rows")
    args = parse_args(parser, rows=FLOOR_ROWS, times=2)
    sizes = {"floor": FLOOR_ROWS, "small": args.rows, "large": args.rows * args.times}
    with tempfile.TemporaryDirectory(prefix="bench-scaffold-") as tmp:
        work = Path(tmp)
        files = {size: work / f"rows-{rows}.csv" for size, rows in sizes.items()}  # one file a size
        results, done = {}, {}
        for size, path in files.items():
            if not path.is_file():
                write_trips(path, sizes[size])
            for how in ("chunked", "whole"):
                if (path, how) not in done:
                    done[path, how] = scaffold(path, how, work)
                r = results[size, how] = done[path, how]
                print(
                    f"{size:5} {path.stat().st_size / MIB:8.1f} MiB {r['rows']:>10,} rows  {how:7}  "
                    f"peak {r['peak_mib']:7.0f} MiB  {r['seconds']:6.1f} s  key {r['key']}",
                    flush=True,
                )
    floor = min(r["peak_mib"] for (size, _), r in results.items() if size == "floor")
    large, whole = results["large", "chunked"], results["large", "whole"]
    grown = {k: max(r["peak_mib"] - floor, 1.0) for k, r in results.items()}
    print(f"floor (imports, 1,000 rows) = {floor:.0f} MiB; file size ratio (large / small) = {args.times}")
    print(
        f"growth ratio (large / small), chunked = {grown['large', 'chunked'] / grown['small', 'chunked']:.2f}"
    )
    print(f"growth ratio (large / small), whole = {grown['large', 'whole'] / grown['small', 'whole']:.2f}")
    ratio = grown["large", "chunked"] / grown["large", "whole"]
    print(f"growth ratio (chunked / whole) on the large file = {ratio:.2f}")
    print(f"peak ratio (chunked / whole) on the large file = {large['peak_mib'] / whole['peak_mib']:.2f}")
    print(f"time ratio (chunked / whole) on the large file = {large['seconds'] / whole['seconds']:.2f}")


if __name__ == "__main__":
    main()
