"""ML_BEAM_WORKERS: the local runner on N worker processes, or in-process (default)."""

from __future__ import annotations

import pytest

from ml.beam import local_workers, pipeline_options
from ml.errors import PipelineError


def _direct(monkeypatch, **env):
    from apache_beam.options.pipeline_options import DirectOptions

    for name in ("ML_BEAM_WORKERS", "ML_BEAM_RUNNER", "ML_BEAM_ARGS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    options = pipeline_options().view_as(DirectOptions)
    return options.direct_num_workers, options.direct_running_mode


def test_default_is_in_process_and_n_workers_run_as_processes(monkeypatch):
    assert _direct(monkeypatch) == (1, "in_memory")
    assert _direct(monkeypatch, ML_BEAM_WORKERS="3") == (3, "multi_processing")
    cores = _direct(monkeypatch, ML_BEAM_WORKERS="auto")[0]
    assert cores == local_workers() >= 1
    # an explicit flag in ML_BEAM_ARGS wins; a remote runner gets no local-runner flags
    assert _direct(monkeypatch, ML_BEAM_WORKERS="3", ML_BEAM_ARGS="--direct_num_workers=2")[0] == 2
    assert _direct(monkeypatch, ML_BEAM_WORKERS="3", ML_BEAM_RUNNER="FlinkRunner") == (1, "in_memory")


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_wrong_worker_count_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("ML_BEAM_WORKERS", value)
    with pytest.raises(PipelineError) as err:
        local_workers()
    assert err.value.rule == "beam-workers" and "ML_BEAM_WORKERS" in str(err.value)
