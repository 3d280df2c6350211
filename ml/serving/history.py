"""The serving history of a model, read from the serving root: every push and rollback."""

from __future__ import annotations

import json
from pathlib import Path

from ml.atomic import read_json
from ml.serving.layout import METADATA_DIR, RETIRED_METADATA, ServingLayout


def _push_event(layout: ServingLayout, version: int, folder: Path) -> dict:
    meta = layout.metadata(folder)
    source = meta.get("source_model_dir")
    return {
        "version": version,
        "event": "push",
        "model_name": layout.model,
        "run_id": Path(source).name if source else None,
        "at": meta.get("pushed_at"),
        "detail": json.dumps({"blessing": meta.get("blessing_file")}),
    }


def serving_events(layout: ServingLayout) -> list[dict]:
    """A `push` event per version ever installed, a `rollback` event per retired version."""
    events = [_push_event(layout, v, layout.version_dir(v)) for v in layout.versions()]
    for version in layout.retired_versions():
        folder = layout.retired / str(version)
        events.append(_push_event(layout, version, folder))
        retired = folder / METADATA_DIR / RETIRED_METADATA
        meta = read_json(retired) if retired.is_file() else {}
        events.append(
            {
                "version": version,
                "event": "rollback",
                "model_name": layout.model,
                "run_id": events[-1]["run_id"],
                "at": meta.get("retired_at"),
                "detail": meta.get("reason"),
            }
        )
    return sorted(events, key=lambda e: (e["version"], e["event"] != "push"))
