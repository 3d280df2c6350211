"""Content digests for lineage: a folder's files, or a model's weights (sha256, hex)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def tree_digest(folder: Path, *, skip: Iterable[str] = ()) -> str:
    """One digest of every file under `folder` (relative paths and contents), `skip`ped names aside."""
    skipped = set(skip)
    h = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel not in skipped:
            h.update(f"{rel}\0{file_digest(path)}\n".encode())
    return h.hexdigest()


def arrays_digest(arrays: Iterable) -> str:
    """One digest of numpy arrays in order (dtype, shape and bytes): a model's weights."""
    h = hashlib.sha256()
    for array in arrays:
        h.update(f"{array.dtype.str}{array.shape}\n".encode())
        h.update(array.tobytes())
    return h.hexdigest()
