"""`bench/train_scale.py --smoke` (bench_smoke.py), in a file of its own: a slow bench, so that
`make test`'s workers share the slow benches out."""

import pytest
from bench_smoke import run_smoke


@pytest.mark.slow
def test_train_scale_bench_smoke(tmp_path):
    run_smoke("train_scale", tmp_path)
