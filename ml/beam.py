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


class _Released:
    """What Beam's per-process Shared cache keeps alive once a pipeline's objects are released."""


def release_shared_objects() -> None:
    """Free what an in-process pipeline left in Beam's per-process `Shared` cache, now.

    TFMA (and TFT) load SavedModels through `apache_beam.utils.shared`, which keeps the last
    object acquired alive after the pipeline is done. Left there, those TensorFlow functions live
    until interpreter exit, where their finalizers run after TensorFlow's modules are torn down
    and print `Exception ignored in: <function AtomicFunction.__del__ ...> TypeError: 'NoneType'
    object is not subscriptable`. Acquiring another (empty) object displaces the cached one (the
    cache's documented behaviour); the collection frees the model's reference cycles while
    TensorFlow is still whole.
    """
    import gc

    from apache_beam.utils.shared import Shared

    Shared().acquire(_Released)
    gc.collect()
