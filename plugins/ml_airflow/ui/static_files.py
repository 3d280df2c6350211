"""Where the ML view's own assets live: this package's static/, plotly.js from the plotly wheel,
Great Expectations' images from its wheel (located without importing either package)."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"


@cache
def package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def plotly_js() -> Path | None:
    root = package_dir("plotly")
    path = root / "package_data" / "plotly.min.js" if root else None
    return path if path and path.is_file() else None


def ge_static() -> Path | None:
    root = package_dir("great_expectations")
    return root / "render" / "view" / "static" if root else None
