"""Run in each worker container (`python -c ... CLAIM TI=FOLDER ...`): the first worker to see one
of the ingest task instances claims the fault (O_EXCL on CLAIM), SIGSTOPs the task, lets it run
2 ms at a time until its half-written examples folder exists and leaves it frozen there, so
that the worker kill that follows lands in the middle of the write. Prints what it froze."""

import glob
import json
import os
import signal
import socket
import sys
import time

claim, *pairs = sys.argv[1:]
folders = dict(arg.split("=", 1) for arg in pairs)
host = socket.gethostname()
deadline = time.monotonic() + 600
claimed = False


def title(pid):
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0].decode()
    except OSError:
        return ""


def temps(ti):
    return sorted(glob.glob(os.path.join(glob.escape(folders[ti]), ".examples.tmp-*")))


def claim_fault():
    try:
        fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    os.write(fd, host.encode())
    os.close(fd)
    return True


def done(**out):
    print(json.dumps({"host": host, **out}))
    sys.exit(0)


while folders and time.monotonic() < deadline:
    if not claimed and os.path.exists(claim):
        done(frozen=False)  # another worker froze a task
    for pid in filter(str.isdigit, os.listdir("/proc")):
        ti = next((t for t in folders if title(pid) == f"airflow worker -- {t}"), None)
        if ti is None:
            continue
        if not claimed and not claim_fault():
            done(frozen=False)
        claimed, pid = True, int(pid)
        os.kill(pid, signal.SIGSTOP)
        while not temps(ti) and title(pid) and time.monotonic() < deadline:
            os.kill(pid, signal.SIGCONT)
            time.sleep(0.002)
            os.kill(pid, signal.SIGSTOP)
        if temps(ti):
            done(frozen=True, pid=pid, ti=ti, temps=[os.path.basename(t) for t in temps(ti)])
        folders.pop(ti)  # it ended without writing (a failing span?): try another
    time.sleep(0.01)
sys.exit("froze no ingest in the middle of its write within 600 s")
