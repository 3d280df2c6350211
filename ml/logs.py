"""Logs for people: keep library chatter out of step logs (CLI and Airflow tasks alike).

`quiet_libraries()` runs before TensorFlow / Great Expectations are imported: TF's C++ log
level 3 (drops the CUDA/cuDNN/cuBLAS "Unable to register factory" ERROR lines printed at import
on CPU-only hosts), absl and TF's Python loggers at ERROR, Great Expectations' INFO registry
messages (~200 a validate), alembic's migration check, google-api-core's Python-version notice
tqdm progress bars off, and libraries' INFO lines through the root logger (Beam's BatchElements
statistics, and Beam's "crcmod package not found"), TFMA's RuntimeWarnings on 0/0 metrics.
`ML_VERBOSE_LOGS=1` keeps them all.
"""

from __future__ import annotations

import logging
import os
import warnings

QUIET_LOGGERS = {
    "great_expectations": logging.WARNING,
    "tensorflow": logging.ERROR,
    "absl": logging.ERROR,
    "apache_beam": logging.WARNING,
    "h5py": logging.WARNING,
    "alembic": logging.WARNING,  # the results store's migration check, every step
}


# library warnings through the root logger that say nothing about the user's run
ROOT_NOISE = ("crcmod package not found",)  # Beam on every pipeline: fast CRCs for GCS, unused here


class LibraryRootRecords(logging.Filter):
    """Drops what an installed library logs through the root logger below WARNING (Beam's
    `logging.info("BatchElements statistics: ...")`, several a transform) and its known noise
    (ROOT_NOISE): our own modules log through named loggers, so nothing of ours is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "site-packages" not in record.pathname:
            return True
        return record.levelno >= logging.WARNING and not str(record.msg).startswith(ROOT_NOISE)


def quiet_libraries() -> None:
    if os.environ.get("ML_VERBOSE_LOGS") == "1":
        return
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("", "0", "1", "2"):
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    root = logging.getLogger()
    if not any(isinstance(f, LibraryRootRecords) for f in root.filters):
        root.addFilter(LibraryRootRecords())
    # google-api-core's "Python 3.11 support ends" notice, once per import of each Google client
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.api_core\..*")
    # TFMA's 0/0 on a slice with one class (recall with no positive): the metric is reported
    # undefined (NaN, shown as such), the numpy warning says nothing more
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"tensorflow_model_analysis\..*")
