"""Crash points for fault tests: `ML_CRASH_AT=<point>[@<n>]` SIGKILLs this process the n-th time
(default: the first) it passes `<point>`, as a power cut or an OOM kill would stop it there.

Failpoints in the manner of etcd's gofail or TiKV's fail-rs: production code names the steps
whose interruption matters (`crash_point("batch:renamed")`) and costs one comparison per pass
when the variable is unset. Used by tests/unit/test_prediction_log_faults.py against real processes.
"""

from __future__ import annotations

import os
import signal
import threading

_SPEC = os.environ.get("ML_CRASH_AT", "")
_POINT, _, _NTH = _SPEC.partition("@")
_WANTED = int(_NTH or 1)
_passes = 0
_lock = threading.Lock()


def crash_point(name: str) -> None:
    """SIGKILL this process here when `ML_CRASH_AT` names this point (and pass)."""
    if name != _POINT:
        return
    global _passes
    with _lock:
        _passes += 1
        if _passes >= _WANTED:
            os.kill(os.getpid(), signal.SIGKILL)
