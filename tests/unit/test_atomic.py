"""ml/atomic.py: a writer killed mid-write leaves a hidden temp entry, which the next write of the
same artifact removes; a live writer's temp entry is never touched."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ml import atomic

ROOT = Path(__file__).resolve().parents[2]

# Writes <final>/part inside atomic_dir, says so on stdout, then waits for stdin: EOF -> finish
# the write, "kill" -> SIGKILL itself in the middle of it.
WRITER = r"""
import os, signal, sys
from pathlib import Path
from ml.atomic import atomic_dir
with atomic_dir(Path(sys.argv[1])) as tmp:
    (tmp / "part").write_text(sys.argv[2])
    print(tmp.name, flush=True)
    if sys.stdin.readline().strip() == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
"""


def _writer(final: Path, text: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(final), text],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def _temps(final: Path) -> list[str]:
    return sorted(p.name for p in final.parent.glob(f".{final.name}.tmp-*"))


def test_a_killed_writers_temp_dir_is_removed_by_the_next_write(tmp_path, monkeypatch):
    final = tmp_path / "examples"
    proc, tmp_name = _writer(final, "killed")
    proc.communicate("kill\n", timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert _temps(final) == [tmp_name] and not final.exists()  # the debris, never the artifact

    with atomic.atomic_dir(final) as tmp:  # a retry within STALE_AFTER_S: left alone
        (tmp / "part").write_text("retried")
    assert _temps(final) == [tmp_name]
    monkeypatch.setattr(atomic, "STALE_AFTER_S", 0.0)
    with atomic.atomic_dir(final) as tmp:
        (tmp / "part").write_text("retried again")
    assert _temps(final) == [] and (final / "part").read_text() == "retried again"


def test_a_live_writers_temp_dir_is_never_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "STALE_AFTER_S", 0.0)
    final = tmp_path / "examples"
    proc, tmp_name = _writer(final, "slow writer")
    try:
        atomic.atomic_write_text(tmp_path / "other.json", "{}")  # unrelated names are not looked at
        with atomic.atomic_dir(final) as tmp:
            (tmp / "part").write_text("fast writer")
        assert _temps(final) == [tmp_name], "the live writer's temp dir was removed"
        assert atomic.remove_stale_temps(final) == []
    finally:
        proc.communicate("", timeout=60)
    assert proc.returncode == 0 and (final / "part").read_text() == "slow writer"
    assert _temps(final) == []


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_remove_stale_temps_takes_unlocked_entries_of_that_name_only(tmp_path, monkeypatch, kind):
    monkeypatch.setattr(atomic, "STALE_AFTER_S", 0.0)
    final = tmp_path / "summary.json"
    stale = tmp_path / ".summary.json.tmp-abc123"
    stale.mkdir() if kind == "dir" else stale.write_text("half")
    (tmp_path / ".summary.jsonx.tmp-1").write_text("another artifact's")
    atomic.atomic_write_json(final, {"ok": True})
    assert not stale.exists() and (tmp_path / ".summary.jsonx.tmp-1").exists()
    assert atomic.read_json(final) == {"ok": True}
