"""A prediction-log writer for the fault tests (tests/unit/test_prediction_log_faults.py): appends
`--batches` batches of `--per-batch` records to a span folder with ml.serving.log_store, exactly
as the logging service does, and prints a batch's record ids on stdout once `append_batch`
returned: the moment the service would acknowledge the request. `--close` closes the span instead.
Records are the ids' bytes (the store is format-agnostic). Crash points: ML_CRASH_AT (ml/faults.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ml.serving.log_store import append_batch, close_span  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--writer", default="w")
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--per-batch", type=int, default=3)
    parser.add_argument("--interval", type=float, default=0.0, help="seconds between batches")
    parser.add_argument("--fsync", action="store_true")
    parser.add_argument("--close", action="store_true", help="close the span (compact + _SUCCESS)")
    args = parser.parse_args()
    if args.close:
        print(close_span(args.folder), flush=True)
        return
    for batch in range(args.batches):
        ids = [f"{args.writer}-{batch}-{i}" for i in range(args.per_batch)]
        append_batch(args.folder, [i.encode() for i in ids], fsync=args.fsync)
        print(" ".join(ids), flush=True)
        if args.interval:
            time.sleep(args.interval)


if __name__ == "__main__":
    main()
