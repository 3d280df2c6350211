"""Import the span steps' heavy libraries once, in a process that will fork task processes.

A task process under Airflow 3 is forked from its executor worker (LocalExecutor worker, Celery
pool process), so modules the worker imported before the fork are inherited copy-on-write and
cost the task nothing. Each span's `validate` otherwise spends ~11 s importing TensorFlow, TFDV
and Great Expectations for ~0.3 s of work. `python -c "import ml.preload"` does the imports: a
module import, so it fits `multiprocessing.set_forkserver_preload` (Airflow's
`[scheduler] mp_forkserver_preload`) as well as an explicit `preload()` call.

Import only: no TF op, session, thread pool or Beam pipeline is created here, which is what keeps
the later `os.fork()` safe (TF's runtime threads start with the first op, in the task process).
Never import this module from the scheduler's main loop, the dag-processor or the API server: it
is for processes that fork task processes only. It imports no Airflow (ml/ never does).
"""

from __future__ import annotations

import importlib
import os
import time

# What `ml ingest`, `ml validate` and `ml stats-html` import lazily, heaviest first.
MODULES = (
    "tensorflow",
    "tensorflow_data_validation",
    "tensorflow_data_validation.statistics.stats_impl",
    "tensorflow_data_validation.utils.display_util",
    "tensorflow_metadata.proto.v0.anomalies_pb2",
    "tensorflow_metadata.proto.v0.schema_pb2",
    "tensorflow_metadata.proto.v0.statistics_pb2",
    "great_expectations",
    "great_expectations.expectations",
    "great_expectations.core.run_identifier",
    "great_expectations.data_context.types.base",
    "google.protobuf.text_format",
    "pandas",
    "pyarrow",
    "pyarrow.csv",
    "pyarrow.dataset",
    "pyarrow.pandas_compat",
    "great_expectations.render.renderer.site_builder",
    "jinja2.ext",
    "croniter",
    "ml.cli",
    "ml.config",
    "ml.config_schema",  # pydantic models of pipeline.yaml (built at import), croniter
    "ml.data.ingest",
    "ml.data.validate",
    "ml.results.record",  # SQLAlchemy, tenacity (Alembic only loads when a store must migrate)
    "ml.results.queries",
    "ml.results.retrain",
)
SKIP_ENV = "ML_PRELOAD"
"""`ML_PRELOAD=0` turns the preload off (each task then imports what it needs itself)."""

PRELOADED: dict[str, float] = {}
"""Seconds each module took to import here ({} when the preload was skipped)."""


def preload(modules: tuple[str, ...] = MODULES) -> dict[str, float]:
    """Import `modules` (missing optional ones are skipped) -> seconds per module."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in modules:
        start = time.perf_counter()
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        PRELOADED[name] = round(time.perf_counter() - start, 3)
    if "ml.cli" in modules:  # the CLI's parser imports every command module
        start = time.perf_counter()
        importlib.import_module("ml.cli").command_modules()
        PRELOADED["ml.commands.*"] = round(time.perf_counter() - start, 3)
    return dict(PRELOADED)


if os.environ.get(SKIP_ENV, "1") not in ("0", "false", "False", ""):
    preload()
