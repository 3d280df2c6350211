"""Run in a worker container (`python -c ... push ARGS`): `python -m ml push ...` that SIGKILLs
itself in the middle of its SavedModel copy (after the second file)."""

import os
import runpy
import shutil
import signal
import sys

copy, copied = shutil.copy2, []


def copy_then_die(src, dst, *args, **kwargs):  # SIGKILL in the middle of the SavedModel copy
    out = copy(src, dst, *args, **kwargs)
    copied.append(src)
    if len(copied) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return out


shutil.copy2 = copy_then_die
sys.argv = ["ml", *sys.argv[1:]]
runpy.run_module("ml", run_name="__main__")
