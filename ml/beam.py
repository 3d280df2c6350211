"""Beam pipeline options with an explicit, configurable runner.

Beam 2.72's default DirectRunner first tries the Prism runner, which downloads a binary:
we always name the runner. Default: the in-process FnApiRunner. Override with
`ML_BEAM_RUNNER` (e.g. FlinkRunner, SparkRunner, DataflowRunner) and extra flags in
`ML_BEAM_ARGS` (space separated, e.g. "--flink_master=host:8081 --parallelism=4").
"""

from __future__ import annotations

import os
import shlex

DEFAULT_RUNNER = "FnApiRunner"


def beam_runner() -> str:
    return os.environ.get("ML_BEAM_RUNNER", DEFAULT_RUNNER)


def pipeline_options(**extra):
    from apache_beam.options.pipeline_options import PipelineOptions

    flags = shlex.split(os.environ.get("ML_BEAM_ARGS", ""))
    # flags=[] (not None): otherwise Beam parses this process's sys.argv.
    return PipelineOptions(flags=flags, runner=beam_runner(), **extra)
