"""The results store of a pipeline, opened once per URL (reads only; ml.results owns writes)."""

from __future__ import annotations

from functools import cache

from ml.config import load_pipeline
from ml.results import ResultsStore, results_url
from ml.roots import Roots


@cache
def _store(url: str) -> ResultsStore:
    return ResultsStore(url)


def store_for(pipeline: str, roots: Roots | None = None) -> ResultsStore:
    return _store(results_url(load_pipeline(pipeline), roots or Roots.resolve()))
