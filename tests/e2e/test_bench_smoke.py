"""Every bench runs: `bench/<name>.py --smoke` (tiny sizes, the same code, its table, exit 0
whatever its targets), so that a bench that breaks fails CI instead of rotting unseen. The quick
benches here; each slow one (Airflow's scheduler, or TFT/TFMA training) in a file of its own,
test_bench_<name>.py, so that `make test`'s workers (--dist loadfile) share them out.
"""

from __future__ import annotations

import pytest
from bench_smoke import BENCH, FAST, HELPERS, SLOW, run_smoke


def test_every_bench_has_a_smoke_run():
    scripts = {path.stem for path in BENCH.glob("*.py") if not path.name.startswith("_")}
    assert scripts == {*FAST, *SLOW, *HELPERS}, "a bench/ script without a smoke test (or a stale name)"
    here = {p.stem.removeprefix("test_bench_") for p in BENCH.parent.glob("tests/e2e/test_bench_*.py")}
    assert set(SLOW) <= here, "a slow bench without its own test_bench_<name>.py"


@pytest.mark.parametrize("name", list(FAST))
def test_bench_smoke(name, tmp_path):
    run_smoke(name, tmp_path)
