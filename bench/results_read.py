"""Reading a year of span results: the results store vs opening every span's verdict.json.

    .venv/bin/python bench/results_read.py [--spans 365] [--repeat 5] [--smoke]

Writes a year of realistic span results (a verdict per span with GE, schema, drift and skew
entries, recorded through ml.results.record like validate does) into a fresh SQLite store and
the same verdicts as files, then times, side by side: `queries.spans` (the span grid),
`queries.drift_series` (drift per feature over time), and reading + parsing every verdict.json.
Median of --repeat runs each. Target: a year of spans read from the store in <= 50 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _smoke import parse_args  # noqa: E402

from ml.config import load_pipeline  # noqa: E402
from ml.data.span_results import SpanVerdict  # noqa: E402
from ml.results import ResultsStore, queries  # noqa: E402
from ml.results.record import check_rows, now, write_span  # noqa: E402
from ml.spans import span_range  # noqa: E402

TARGET_MS = 50
FEATURES = ("carrier", "origin", "dest", "dep_delay", "temp")


def verdict(span: str, i: int) -> dict:
    measured = {f: {"type": "L_INFTY", "value": (i % 17) / 100, "threshold": 0.1} for f in FEATURES}
    ge = [{"column": f, "expectation": "expect_column_to_exist", "passed": True} for f in FEATURES * 6]
    drift = {"severity": "warn", "ran": True, "anomalies": 0, "baseline_span": span, "measurements": measured}
    return {
        "span": span,
        "passed": True,
        "rows": 900 + i,
        "blocking": 0,
        "warnings": 0,
        "anomalies": [],
        "checks": {
            "great_expectations": {
                "severity": "block",
                "expectations": len(ge),
                "anomalies": 0,
                "results": ge,
            },
            "schema": {"severity": "block", "anomalies": 0},
            "drift": drift,
            "skew": {**drift, "baseline_span": None},
        },
    }


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=5)
    args = parse_args(parser, spans=10, repeat=1)
    spans = span_range(load_pipeline("flights"), "2013-01-01", "2014-12-31")[: args.spans]
    with tempfile.TemporaryDirectory() as tmp:
        store = ResultsStore(f"sqlite:///{tmp}/results.sqlite")
        files = []
        for i, span in enumerate(spans):
            v = verdict(span, i)
            row = {
                "pipeline": "flights",
                "span": span,
                "status": "passed",
                "rows": v["rows"],
                "updated_at": now(),
            }
            write_span(store, row, check_rows(SpanVerdict.model_validate(v)))
            files.append(Path(tmp) / f"{span}.json")
            files[-1].write_text(json.dumps(v))
        checks = len(queries.checks(store, "flights"))
        grid = timed(lambda: queries.spans(store, "flights"), args.repeat)
        drift = timed(lambda: queries.drift_series(store, "flights"), args.repeat)
        raw = timed(lambda: [json.loads(f.read_text()) for f in files], args.repeat)
    print(f"{args.spans} spans, {checks} check rows, median of {args.repeat}")
    print(f"{'read':40} {'ms':>8} {'vs files':>9}")
    for name, ms in (
        ("store: queries.spans (span grid)", grid),
        ("store: queries.drift_series", drift),
        ("files: every verdict.json parsed", raw),
    ):
        print(f"{name:40} {ms:8.1f} {raw / ms:8.1f}x")
    verdict_ok = "OK" if max(grid, drift) <= TARGET_MS else "OVER"
    print(f"slowest store read {max(grid, drift):.1f} ms (target <= {TARGET_MS} ms): {verdict_ok}")


if __name__ == "__main__":
    main()
