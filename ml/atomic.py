"""Write-then-rename helpers: readers never see a half-written artifact.

A writer holds an flock on its hidden temp entry (`.<name>.tmp-*`) while it writes. A writer
killed mid-write (SIGKILL, a dead container) leaves its temp entry behind, unlocked; the next
successful write of the same artifact removes it (`remove_stale_temps`), so a retried task
leaves no debris. An entry still locked, or touched in the last STALE_AFTER_S, is never removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def default_mode(*, directory: bool) -> int:
    """The mode a plain mkdir/open would give (mkdtemp/mkstemp create owner-only entries)."""
    return (0o777 if directory else 0o666) & ~_umask()


STALE_AFTER_S = 30.0  # far longer than a writer takes between creating its temp entry and locking it


def _try_lock(fd: int) -> bool:
    """An exclusive, non-blocking flock; False when another process holds one (or locks are
    not supported here, which is treated the same: nothing is removed)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def remove_stale_temps(final: Path) -> list[str]:
    """Remove the temp entries beside `final` that dead writers left; returns their names."""
    final = Path(final)
    removed = []
    for entry in final.parent.glob(f".{glob.escape(final.name)}.tmp-*"):
        try:
            if time.time() - entry.lstat().st_mtime < STALE_AFTER_S:
                continue
            fd = os.open(entry, os.O_RDONLY)
        except OSError:
            continue
        try:
            if not _try_lock(fd):
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry.name)
        finally:
            os.close(fd)
    return removed


@contextlib.contextmanager
def atomic_dir(final: Path, *, replace: bool = True) -> Iterator[Path]:
    """Yield a hidden temp dir beside `final`; on success rename it to `final`.

    On any exception the temp dir is removed and `final` is left untouched.
    With `replace`, an existing `final` is swapped out (old copy removed after the rename).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    lock = os.open(tmp, os.O_RDONLY)  # held until the rename: a live writer's entry is never swept
    _try_lock(lock)
    try:
        os.chmod(tmp, default_mode(directory=True))
        yield tmp
        if final.exists():
            if not replace:
                raise FileExistsError(final)
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        os.close(lock)
    remove_stale_temps(final)


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    _try_lock(fd)  # released when the file is closed
    try:
        os.chmod(tmp, default_mode(directory=False))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    remove_stale_temps(path)
    return path


def atomic_write_json(path: Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())
