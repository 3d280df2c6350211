"""The prediction log's durability, with real processes and real kills (ml/serving/log_store.py).

A writer process (tests/programs/prediction_log_writer.py) appends batches as the logging service
does and prints each batch's ids once `append_batch` returned, the moment the service answers
the client. `ML_CRASH_AT` (ml/faults.py) SIGKILLs it at one step of a batch write or of a span's
compaction. After every crash, and after the span is finally closed, every acknowledged id is in
the log exactly once; an unacknowledged one at most once; nothing half-written is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from ml.serving.log_store import LATE, PART, is_complete, read_records

WRITER = Path(__file__).resolve().parents[1] / "programs" / "prediction_log_writer.py"


def run(folder: Path, *args: str, crash: str | None = None) -> tuple[int, list[str]]:
    """Run the writer (or `--close`); returns its exit code and the ids it acknowledged."""
    env = {k: v for k, v in os.environ.items() if k != "ML_CRASH_AT"} | (
        {"ML_CRASH_AT": crash} if crash else {}
    )
    done = subprocess.run(
        [sys.executable, str(WRITER), str(folder), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    acked = [i for line in done.stdout.splitlines() if "-" in line for i in line.split()]
    return done.returncode, acked


def logged(folder: Path) -> Counter[str]:
    return Counter(r.decode() for r in read_records(folder).records)


def assert_exactly_once(folder: Path, acked: list[str]) -> Counter[str]:
    found = logged(folder)
    assert {i: found[i] for i in acked if found[i] != 1} == {}, "an acknowledged id lost or doubled"
    assert max(found.values(), default=1) == 1, "an id logged twice"
    return found


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("point", ["batch:written", "batch:renamed", "batch:synced"])
def test_a_writer_killed_at_any_step_of_a_batch_loses_nothing_it_acknowledged(tmp_path, point):
    folder = tmp_path / "span=2013-01-15"
    code, acked = run(folder, "--batches", "8", "--fsync", crash=f"{point}@5")
    assert code == -signal.SIGKILL and len(acked) == 4 * 3  # killed in its 5th batch
    found = assert_exactly_once(folder, acked)
    unacked = {f"w-4-{i}" for i in range(3)}
    assert set(found) - set(acked) <= unacked  # the batch in flight: all of it or none of it
    assert len(set(found) & unacked) in (0, 3)
    code, more = run(folder, "--writer", "x", "--batches", "2")  # the service restarted
    assert code == 0
    assert run(folder, "--close")[0] == 0
    assert_exactly_once(folder, acked + more)
    assert is_complete(folder) and leftovers(folder) == []  # the dead writer's temp file swept
    assert not list(folder.glob(f"{PART}*"))


@pytest.mark.parametrize(
    "point",
    ["compact:written", "compact:renamed", "compact:part-deleted@3", "close:written", "close:renamed"],
)
def test_a_closer_killed_at_any_step_of_a_compaction_loses_nothing(tmp_path, point):
    folder = tmp_path / "span=2013-01-15"
    code, acked = run(folder, "--batches", "6")
    assert code == 0
    code, _ = run(folder, "--close", crash=point)
    assert code == -signal.SIGKILL
    assert_exactly_once(folder, acked)  # readers meanwhile: compacted file and parts, each id once
    code, more = run(folder, "--writer", "x", "--batches", "3")  # writers go on
    assert code == 0
    assert run(folder, "--close")[0] == 0  # the next close finishes the job
    assert_exactly_once(folder, acked + more)
    assert is_complete(folder) and leftovers(folder) == [] and not list(folder.glob(f"{PART}*"))


def test_a_close_racing_eight_writers_keeps_every_acknowledged_batch_exactly_once(tmp_path):
    """8 writer processes append while the span is closed under them: batches written before the
    close are compacted, those after it are kept as late files, none is lost or doubled."""
    folder = tmp_path / "span=2013-01-15"
    folder.mkdir()
    writers = [
        subprocess.Popen(
            [sys.executable, str(WRITER), str(folder), "--writer", f"w{n}", "--batches", "150"]
            + ["--interval", "0.004"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]
    deadline = time.monotonic() + 60
    while len(list(folder.glob(f"{PART}*"))) < 40 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert run(folder, "--close")[0] == 0
    outputs = [w.communicate(timeout=120)[0] for w in writers]
    assert all(w.returncode == 0 for w in writers)
    acked = [i for out in outputs for line in out.splitlines() for i in line.split()]
    assert len(acked) == 8 * 150 * 3
    assert_exactly_once(folder, acked)
    late = read_records(folder).late
    assert 0 < late < len(acked) and len(list(folder.glob(f"{LATE}*"))) * 3 == late
    assert run(folder, "--close")[0] == 0  # closed already: late files stay as they are
    assert read_records(folder).late == late
