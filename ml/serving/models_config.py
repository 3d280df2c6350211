"""TF Serving's `models.config` (ModelServerConfig, protobuf text format).

One `config` entry per model folder in the serving root; the `latest` version policy makes
TF Serving serve the highest version folder (retiring a version = falling back).
Start TF Serving with `--model_config_file=<root>/models.config
--model_config_file_poll_wait_seconds=60` (it also re-scans version folders by itself).
"""

from __future__ import annotations

import re
from pathlib import Path

from ml.atomic import atomic_write_text

_ENTRY = re.compile(r'name:\s*"([^"]+)"\s*base_path:\s*"([^"]+)"')


def read_entries(path: Path) -> dict[str, str]:
    """`{model name: base path}` of a models.config written by `render`."""
    return dict(_ENTRY.findall(path.read_text())) if path.is_file() else {}


def render(entries: dict[str, str]) -> str:
    blocks = "".join(
        "  config {\n"
        f'    name: "{name}"\n'
        f'    base_path: "{base}"\n'
        '    model_platform: "tensorflow"\n'
        "    model_version_policy { latest { num_versions: 1 } }\n"
        "  }\n"
        for name, base in sorted(entries.items())
    )
    return f"# Written by `python -m ml push`; one entry per model.\nmodel_config_list {{\n{blocks}}}\n"


def upsert(path: Path, model: str, base_path: str) -> dict[str, str]:
    """Add or update one model's entry, keeping the others; atomic."""
    entries = read_entries(path)
    entries[model] = base_path
    atomic_write_text(path, render(entries))
    return entries
