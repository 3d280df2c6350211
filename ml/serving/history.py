"""The serving history of a model, read from the serving root: every push and rollback."""

from __future__ import annotations

import json
from pathlib import Path

from ml.atomic import read_json
from ml.serving.labels import current, label_events
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
    """A `push` event per version ever installed; `promote` / `rollback` per move of the `stable`
    label (a rollback row names the version rolled back from, `detail` the one rolled back to);
    `retire` per retired version; and `stable` / `canary` rows for where the labels point now."""
    events = [_push_event(layout, v, layout.version_dir(v)) for v in layout.versions()]
    for version in layout.retired_versions():
        folder = layout.retired / str(version)
        events.append(_push_event(layout, version, folder))
        retired = folder / METADATA_DIR / RETIRED_METADATA
        meta = read_json(retired) if retired.is_file() else {}
        events.append(_event(layout, version, "retire", meta.get("retired_at"), meta.get("reason")))
    for move in label_events(layout):
        if move["event"] == "promote":
            events.append(
                _event(layout, move["version"], "promote", move["at"], f"stable from {move['from']}")
            )
        elif move["from"] is not None:
            events.append(
                _event(layout, move["from"], "rollback", move["at"], f"stable to {move['version']}")
            )
    for label, version in current(layout).labels.items():
        events.append(_event(layout, version, label, None, f"label {label}"))
    run_ids = {e["version"]: e["run_id"] for e in events if e["event"] == "push"}
    unique = {(e["version"], e["event"]): {**e, "run_id": run_ids.get(e["version"])} for e in events}
    return sorted(unique.values(), key=lambda e: (e["version"], e["event"]))


def _event(layout: ServingLayout, version: int, event: str, at: str | None, detail: str | None) -> dict:
    return {"version": version, "event": event, "model_name": layout.model, "at": at, "detail": detail}
