"""Logs for people: keep library chatter out of step logs (CLI and Airflow tasks alike).

`quiet_libraries()` runs before TensorFlow / Great Expectations are imported: TF's C++ log
level 3 (drops the CUDA/cuDNN/cuBLAS "Unable to register factory" ERROR lines printed at import
on CPU-only hosts), absl and TF's Python loggers at ERROR, Great Expectations' INFO registry
messages (~200 a validate) and tqdm progress bars off. `ML_VERBOSE_LOGS=1` keeps them all.
"""

from __future__ import annotations

import logging
import os

QUIET_LOGGERS = {
    "great_expectations": logging.WARNING,
    "tensorflow": logging.ERROR,
    "absl": logging.ERROR,
    "apache_beam": logging.WARNING,
    "h5py": logging.WARNING,
}


def quiet_libraries() -> None:
    if os.environ.get("ML_VERBOSE_LOGS") == "1":
        return
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("", "0", "1", "2"):
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
