"""What the benches share: `--smoke` and where a bench keeps its work.

`--smoke` runs a bench at tiny sizes through the same code: it prints its normal table in seconds
and exits 0 whatever its targets (tests/e2e/test_bench_smoke.py runs every bench so, in `make test`).
A bench's work folder is .local/bench/<name>/, or $ML_BENCH_ROOT/<name>/ (the smoke tests' tmp).
"""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse_args(parser: argparse.ArgumentParser, **smoke) -> argparse.Namespace:
    """The parser's arguments plus `--smoke`, which sets the options named in `smoke` (dest=value)."""
    flags = {action.dest: action.option_strings[0] for action in parser._actions if action.option_strings}
    sizes = " ".join(f"{flags[dest]} {shlex.quote(str(value))}" for dest, value in smoke.items())
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"tiny sizes ({sizes}): check that it runs; exit 0 whatever the targets",
    )
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(smoke)
    return args


def exit_code(ok: bool, args: argparse.Namespace) -> int:
    """1 for a missed target, except in a smoke run (it only checks that the bench runs)."""
    return 0 if ok or args.smoke else 1


def work_dir(name: str) -> Path:
    """.local/bench/<name>, or $ML_BENCH_ROOT/<name> where that is set."""
    return Path(os.environ.get("ML_BENCH_ROOT") or ROOT / ".local" / "bench") / name
