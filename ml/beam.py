"""Beam pipeline options with an explicit, configurable runner.

Beam 2.72's default DirectRunner first tries the Prism runner, which downloads a binary:
we always name the runner. Default: the in-process FnApiRunner. Override with
`ML_BEAM_RUNNER` (e.g. FlinkRunner, SparkRunner, DataflowRunner) and extra flags in
`ML_BEAM_ARGS` (space separated, e.g. "--flink_master=host:8081 --parallelism=4").

`ML_BEAM_WORKERS` (a number, or `auto` = this machine's cores) runs the local runner on that
many worker processes (`--direct_num_workers=N --direct_running_mode=multi_processing`).
Default 1, in-process: each worker process imports TensorFlow first (~10 s and ~0.7 GiB), and
on 2 cores that costs more than it saves at every window measured (bench/train_scale.py). The
outputs are byte-identical either way (the transform's digest says so).
"""

from __future__ import annotations

import os
import shlex

from ml.errors import ConfigError

DEFAULT_RUNNER = "FnApiRunner"
LOCAL_RUNNERS = ("FnApiRunner", "DirectRunner")


def beam_runner() -> str:
    return os.environ.get("ML_BEAM_RUNNER", DEFAULT_RUNNER)


def local_workers() -> int:
    """`ML_BEAM_WORKERS`: worker processes of the local runner (default 1: in-process)."""
    value = os.environ.get("ML_BEAM_WORKERS", "1").strip().lower()
    if value == "auto":
        return os.cpu_count() or 1
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(
            f"ML_BEAM_WORKERS={value!r}: give a number of worker processes (1 or more) or `auto`",
            column="ML_BEAM_WORKERS",
            rule="beam-workers",
        )
    return int(value)


def pipeline_options(**extra):
    from apache_beam.options.pipeline_options import PipelineOptions

    flags = shlex.split(os.environ.get("ML_BEAM_ARGS", ""))
    workers = local_workers()
    if workers > 1 and beam_runner() in LOCAL_RUNNERS and not any("direct_num_workers" in f for f in flags):
        flags += [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
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
