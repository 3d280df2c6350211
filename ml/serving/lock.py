"""An exclusive fcntl lock on the serving root so pushes/rollbacks never interleave."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from ml.errors import ServingError

DEFAULT_TIMEOUT_S = 600.0


@contextlib.contextmanager
def serving_lock(path: Path, timeout_s: float = DEFAULT_TIMEOUT_S) -> Iterator[None]:
    """Hold `path` locked (created if needed); waits up to `timeout_s` for another holder.

    The kernel drops the lock when the holder exits, even on SIGKILL: no stale lock files.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ServingError(
                        f"serving root is locked by another push/rollback (waited {timeout_s:g}s): {path}",
                        file=str(path),
                        rule="serving-lock",
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
