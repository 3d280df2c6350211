"""When each label file arrived, so a span can be judged as of any time, and judged again the same.

Per span, `<artifact_root>/<pipeline>/monitoring/<span>/labels/arrivals.json` lists every version
of every label file the monitor has seen: its name, sha256 and when it landed (the file's ctime:
the moment it was written or renamed into the folder, which no client can set), plus a copy of
its bytes (`labels/<sha256[:16]>-<name>`), so a version that was later replaced stays readable;
a file gone from the folder is recorded as removed, and the done marker's landings are listed.
`as_of(T)` is the label folder as it was at T: per name, the newest version landed by T. A
monitor run at T sees exactly that, so recomputing "as of T" later gives the same numbers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from ml.atomic import atomic_write_bytes, atomic_write_text
from ml.config import PipelineConfig
from ml.spans import SpanPaths


class Arrival(BaseModel):
    name: str
    sha256: str | None  # None: the file was removed
    landed: dt.datetime  # UTC
    copy_name: str | None = None


class Ledger(BaseModel):
    files: list[Arrival] = []
    done_marker: list[dt.datetime] = []  # each time the done marker was seen landed

    def as_of(self, cutoff: dt.datetime) -> tuple[list[Arrival], bool]:
        """The label files there at `cutoff` (newest version per name) and whether the done
        marker had landed."""
        newest: dict[str, Arrival] = {}
        for entry in sorted(self.files, key=lambda a: a.landed):
            if entry.landed <= cutoff:
                newest[entry.name] = entry
        present = [a for _, a in sorted(newest.items()) if a.sha256 is not None]
        return present, any(t <= cutoff for t in self.done_marker)


def _landed(stat: os.stat_result) -> dt.datetime:
    return dt.datetime.fromtimestamp(stat.st_ctime_ns / 1e9, dt.UTC)


def _read_stable(path: Path) -> tuple[bytes, os.stat_result] | None:
    """A file's bytes and stat, read while nothing changed it (None: it vanished)."""
    for _ in range(5):
        try:
            before = path.stat()
            data = path.read_bytes()
            after = path.stat()
        except FileNotFoundError:
            return None
        if (before.st_ctime_ns, before.st_size) == (after.st_ctime_ns, after.st_size):
            return data, after
    return data, after


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def observe(cfg: PipelineConfig, paths: SpanPaths, span: str, now: dt.datetime) -> Ledger:
    """Record what is in the span's label folder now (new versions, removals, the marker) and
    return the whole ledger."""
    spec = cfg.monitoring.labels
    source = paths.labels_dir(span)
    glob = spec.file_glob or cfg.landing_glob
    marker = source / (spec.done_marker or cfg.done_marker)
    folder = paths.label_copies_dir(span)
    with _locked(folder):
        ledger_file = paths.label_ledger(span)
        ledger = Ledger.model_validate_json(ledger_file.read_text()) if ledger_file.is_file() else Ledger()
        latest: dict[str, Arrival] = {}
        for entry in sorted(ledger.files, key=lambda a: a.landed):
            latest[entry.name] = entry
        present = sorted(p for p in source.glob(glob) if p.is_file()) if source.is_dir() else []
        changed = False
        for path in present:
            read = _read_stable(path)
            if read is None:
                continue
            data, stat = read
            sha = hashlib.sha256(data).hexdigest()
            known = latest.get(path.name)
            if known is not None and known.sha256 == sha:
                continue
            copy_name = f"{sha[:16]}-{path.name}"
            if not (folder / copy_name).is_file():
                atomic_write_bytes(folder / copy_name, data)
            ledger.files.append(
                Arrival(name=path.name, sha256=sha, landed=_landed(stat), copy_name=copy_name)
            )
            changed = True
        names = {p.name for p in present}
        for name, entry in latest.items():
            if name not in names and entry.sha256 is not None:
                ledger.files.append(Arrival(name=name, sha256=None, landed=now))
                changed = True
        with contextlib.suppress(FileNotFoundError):
            landed = _landed(marker.stat())
            if landed not in ledger.done_marker:
                ledger.done_marker.append(landed)
                changed = True
        if changed:
            atomic_write_text(ledger_file, ledger.model_dump_json(indent=1) + "\n")
    return ledger


def files_as_of(
    cfg: PipelineConfig, paths: SpanPaths, span: str, ledger: Ledger, cutoff: dt.datetime
) -> tuple[list[Path], bool]:
    """The label files (the recorded copies) as they were at `cutoff`, and whether complete."""
    arrivals, complete = ledger.as_of(cutoff)
    folder = paths.label_copies_dir(span)
    return [folder / a.copy_name for a in arrivals if a.copy_name], complete
