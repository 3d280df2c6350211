"""`bench/year_under_airflow.py --smoke` (bench_smoke.py), in a file of its own: a slow bench, so that
`make test`'s workers share the slow benches out."""

import pytest
from bench_smoke import run_smoke


@pytest.mark.slow
def test_year_under_airflow_bench_smoke(tmp_path):
    run_smoke("year_under_airflow", tmp_path)
