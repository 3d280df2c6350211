"""The prediction log's files: one folder per span, written by batches, closed once (bytes only:
the records' format is ml/serving/prediction_log.py).

`<data_root>/<pipeline>_predictions/span=<id>/` holds
- `part-<ns>-<pid>-<n>.tfrecord.gz`: one file per logged request batch (temp name + rename);
- `predictions-00000-of-00001.tfrecord.gz` + `_SUCCESS` once the span is closed (its parts
  compacted into one file, records sorted);
- `late-<ns>-<pid>-<n>.tfrecord.gz`: a batch that arrived after the span was closed: kept and
  counted, never deleted or merged;
- `.lock`: writers hold it shared while they write and rename a batch, the closer holds it
  exclusively, so a batch is never half in and half out of a compaction (flock: also across
  processes and, on a POSIX shared file system, across hosts).

Durability, step by step: a batch is in the log once its rename returned (a killed writer loses
nothing it acknowledged); with `fsync`, the batch file and then its folder are synced before
that, so it also survives a host crash. A compaction syncs the compacted file and the folder
before it deletes any part, then writes `_SUCCESS`; cut short anywhere, the next close finishes
it (the compacted file and the parts it already holds are merged, identical records once).
Readers take the lock shared and drop identical records: the same bytes twice are one prediction
(a retried request with the same id, answered in the same second, is logged once).
Crash points (ml/faults.py) mark each step for the fault tests.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ml.atomic import atomic_dir, default_mode
from ml.faults import crash_point
from ml.tfrecord import gzipped_tfrecords, read_tfrecords, write_tfrecords

DONE_MARKER = "_SUCCESS"
RECORDS_GLOB = "*.tfrecord.gz"
COMPACTED = "predictions-00000-of-00001.tfrecord.gz"
PART, LATE = "part-", "late-"
LOCK = ".lock"

_BATCHES = itertools.count()  # unique batch file names within a process (thread-safe in CPython)


def is_complete(folder: Path) -> bool:
    return (folder / DONE_MARKER).is_file()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_FOLDERS: set[Path] = set()  # span folders this process has seen exist (a stat saved per batch)


def _make_folder(folder: Path, fsync: bool) -> None:
    """Create the span folder (and its parents); with `fsync`, sync each new entry's parent."""
    if folder in _FOLDERS or folder.is_dir():
        _FOLDERS.add(folder)
        return
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    if fsync:
        for created in reversed(missing):
            _fsync_dir(created.parent)
    _FOLDERS.add(folder)


@contextlib.contextmanager
def span_lock(folder: Path, *, exclusive: bool) -> Iterator[None]:
    """The span folder's lock: shared for writers and readers, exclusive for the closer."""
    try:
        fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, default_mode(directory=False))
    except FileNotFoundError:  # the folder was removed since it was seen
        _FOLDERS.discard(folder)
        raise
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _write_temp(tmp: Path, data: bytes, *, fsync: bool) -> None:
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, default_mode(directory=False))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_file(path: Path, data: bytes, *, fsync: bool, point: str) -> None:
    """`data` to a hidden temp name beside `path`, then renamed to it."""
    tmp = path.with_name(f".{path.name}.tmp")
    _write_temp(tmp, data, fsync=fsync)
    try:
        crash_point(f"{point}:written")
        os.replace(tmp, path)
        crash_point(f"{point}:renamed")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def append_batch(folder: Path, records: list[bytes], *, fsync: bool = False) -> Path:
    """One request batch as its own file. Once this returns the batch survives a kill of the
    writer; with `fsync` also a host crash. After the span was closed: a `late-` file."""
    return append_batches({folder: records}, fsync=fsync)[folder]


def append_batches(batches: dict[Path, list[bytes]], *, fsync: bool = False) -> dict[Path, Path]:
    """One file per span folder, all or nothing: every file is written to its temp name first
    (a failure removes them all and raises), then each is renamed into its folder, each folder
    under its lock. Returns each folder's new file."""
    data = {folder: gzipped_tfrecords(records, compresslevel=1) for folder, records in batches.items()}
    for folder in batches:
        _make_folder(folder, fsync)
    with contextlib.ExitStack() as locks:
        for folder in sorted(batches):  # one order: no two writers wait on each other
            locks.enter_context(span_lock(folder, exclusive=False))
        finals = {}
        for folder in batches:
            prefix = LATE if is_complete(folder) else PART
            finals[folder] = (
                folder / f"{prefix}{time.time_ns():020d}-{os.getpid()}-{next(_BATCHES)}.tfrecord.gz"
            )
        temps = {folder: final.with_name(f".{final.name}.tmp") for folder, final in finals.items()}
        try:
            for folder, tmp in temps.items():
                _write_temp(tmp, data[folder], fsync=fsync)
            crash_point("batch:written")
            for folder, tmp in temps.items():
                os.replace(tmp, finals[folder])
                crash_point("batch:renamed")
        except BaseException:
            for tmp in temps.values():
                tmp.unlink(missing_ok=True)
            raise
        if fsync:
            for folder in batches:
                _fsync_dir(folder)
        crash_point("batch:synced")
    return finals


def _unique(files: Iterable[Path]) -> list[bytes]:
    return list(dict.fromkeys(r for f in files for r in read_tfrecords(f)))


def close_span(folder: Path) -> int:
    """Compact the span's batch files into one and write `_SUCCESS` (records in the compacted
    file; 0 when the span was closed already). Serialized with writers by the span lock."""
    if not folder.is_dir():
        return 0
    with span_lock(folder, exclusive=True):
        if is_complete(folder):
            return 0
        for tmp in folder.glob(".*.tmp"):  # a live writer holds the lock: these are a dead one's
            tmp.unlink(missing_ok=True)
        compacted = folder / COMPACTED
        parts = sorted(folder.glob(f"{PART}{RECORDS_GLOB}"))
        records = sorted(_unique([compacted, *parts] if compacted.is_file() else parts))
        _write_file(compacted, gzipped_tfrecords(records), fsync=True, point="compact")
        _fsync_dir(folder)
        for part in parts:
            part.unlink()
            crash_point("compact:part-deleted")
        _fsync_dir(folder)
        _write_file(folder / DONE_MARKER, b"", fsync=True, point="close")
        _fsync_dir(folder)
    return len(records)


def write_span(folder: Path, records: Iterable[bytes]) -> int:
    """The whole span at once (the embedded default's `serve-span`): one file + `_SUCCESS`, one
    atomic folder swap, so a re-run replaces the span and a reader never sees half of it."""
    with atomic_dir(folder) as tmp:
        count = write_tfrecords(tmp / COMPACTED, records)
        (tmp / DONE_MARKER).write_text("")
    return count


@dataclass(frozen=True)
class SpanRecords:
    """Every record logged for a span, once each (complete or not)."""

    records: list[bytes]
    late: int  # of them, from batches that arrived after the span was closed
    complete: bool


def read_records(folder: Path) -> SpanRecords:
    if not folder.is_dir():
        return SpanRecords([], 0, False)
    with contextlib.ExitStack() as stack:
        with contextlib.suppress(OSError):  # a read-only copy of the log: nothing writes there
            stack.enter_context(span_lock(folder, exclusive=False))
        complete = is_complete(folder)
        late = sorted(folder.glob(f"{LATE}{RECORDS_GLOB}"))
        main = sorted(set(folder.glob(RECORDS_GLOB)) - set(late))
        kept = _unique(main)
        seen = set(kept)
        late_records = [r for r in _unique(late) if r not in seen]
    return SpanRecords(kept + late_records, len(late_records), complete)
