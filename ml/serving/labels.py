"""Promotion by TF Serving version labels: `canary` for the version under test, `stable` for the one
clients call (`POST /v1/models/<m>/labels/stable:predict`).

TF Serving's rule (server_core.cc, UpdateModelVersionLabelMap): a label may point only at a version
that is AVAILABLE; with `--allow_version_labels_for_unavailable_models` a label that is new (or
unchanged) may point at a version still loading, but an existing label is never moved to one. A
config that breaks the rule is refused and the old labels stay. So a push is three config writes,
each applied by TF Serving on its next config poll:

1. the new version joins `specific { versions }` (labels unchanged); wait until it is AVAILABLE;
2. `canary` -> new; wait until `/labels/canary` resolves to it; smoke `:predict` on the label;
3. `stable` -> new; wait until `/labels/stable` resolves to it.

A failure at any step writes the config back as it was before the push (the caller retires the new
version's folder). Without a TF Serving URL there is nothing to wait on: one write puts the version,
`canary` and `stable` in place (the model passed `infra-validate`, a fresh-process load + predict).

Retention: the newest `serving.keep_loaded` versions (default 3) plus every labelled version stay in
`specific { versions }`, i.e. loaded; older ones are retired (moved to `.retired/`, never deleted).
Rollback moves `stable` (and `canary`, if it pointed at the same version) to another loaded version:
one config write, nothing copied, the old version stays loaded until retention retires it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

from ml.atomic import atomic_write_text
from ml.errors import ServingError
from ml.serving import models_config
from ml.serving import tf_serving_client as client
from ml.serving.layout import ServingLayout
from ml.serving.models_config import ModelEntry

STABLE, CANARY = "stable", "canary"
DEFAULT_KEEP_LOADED = 3


def current(
    serving: ServingLayout, base_path: str | None = None, installing: int | None = None
) -> ModelEntry:
    """This model's entry; an entry from before labels (`latest` policy) reads as its newest
    version (other than the one `installing`) loaded and `stable` on it; no entry reads as
    nothing loaded."""
    entry = models_config.read(serving.models_config).get(serving.model)
    if entry is None:
        return ModelEntry(serving.model, base_path or str(serving.base), (), {})
    if entry.versions is None:
        latest = max((v for v in serving.versions() if v != installing), default=None)
        legacy = (latest,) if latest is not None else ()
        entry = entry.with_(versions=legacy, labels={STABLE: latest} if latest is not None else {})
    return entry.with_(base_path=base_path) if base_path else entry


def stable_version(serving: ServingLayout) -> int | None:
    """The version clients get from `/labels/stable` (None before the first push)."""
    return current(serving).labels.get(STABLE)


def _write(serving: ServingLayout, entry: ModelEntry | None) -> None:
    entries = models_config.read(serving.models_config)
    if entry is None or not entry.versions:
        entries.pop(serving.model, None)
    else:
        entries[serving.model] = entry
    atomic_write_text(serving.models_config, models_config.render(entries))


def _log(serving: ServingLayout, event: dict) -> None:
    """Append one label move to `<serving_root>/.labels/<model>.jsonl` (callers hold the lock)."""
    path = serving.labels_log
    old = path.read_text() if path.is_file() else ""
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    atomic_write_text(path, old + json.dumps({**event, "at": stamp}) + "\n")


def label_events(serving: ServingLayout) -> list[dict]:
    path = serving.labels_log
    return [json.loads(line) for line in path.read_text().splitlines() if line] if path.is_file() else []


def retain(serving: ServingLayout, keep: int, retire: Callable[[int, str], str]) -> dict[int, str]:
    """Unload and retire every version that is neither among the newest `keep` nor labelled."""
    entry = current(serving)
    on_disk = serving.versions()
    kept = sorted(set(on_disk[-keep:]) | (set(entry.labels.values()) & set(on_disk)))
    dropped = [v for v in on_disk if v not in kept]
    if tuple(kept) != entry.versions:
        _write(serving, entry.with_(versions=tuple(kept)))  # unload first, then move the folders
    reason = f"retention: not among the newest {keep} versions and not labelled"
    return {v: retire(v, reason) for v in dropped}


def roll_out(
    serving: ServingLayout,
    base_path: str,
    version: int,
    *,
    url: str | None = None,
    timeout_s: float = 120.0,
    smoke: Callable[[str], dict] | None = None,
) -> dict:
    """Load `version`, label it `canary`, smoke-test the label, then move `stable` to it."""
    before_file = models_config.read(serving.models_config).get(serving.model)
    before = current(serving, base_path, installing=version)
    loaded = tuple(sorted({*(before.versions or ()), version}))
    promoted = {**before.labels, CANARY: version, STABLE: version}
    result: dict = {"previous_stable": before.labels.get(STABLE)}
    if url is None:
        _write(serving, before.with_(versions=loaded, labels=promoted))
        result["verified_by"] = "infra-validate (no TF Serving URL: promoted in one config write)"
    else:
        try:
            _write(serving, before.with_(versions=loaded))
            result["state"] = client.wait_until_available(url, serving.model, version, timeout_s)["state"]
            _write(serving, before.with_(versions=loaded, labels={**before.labels, CANARY: version}))
            client.wait_for_label(url, serving.model, CANARY, version, timeout_s)
            if smoke is not None:
                result.update(smoke(CANARY))
            _write(serving, before.with_(versions=loaded, labels=promoted))
            client.wait_for_label(url, serving.model, STABLE, version, timeout_s)
        except BaseException:
            _write(serving, before_file)  # as it was: TF Serving keeps serving the old labels
            raise
        result["verified_by"] = f"smoke :predict on /labels/{CANARY}"
    _log(
        serving, {"event": "promote", "label": STABLE, "version": version, "from": result["previous_stable"]}
    )
    return {**result, "labels": promoted}


def move_stable(
    serving: ServingLayout, to_version: int | None, *, url: str | None = None, timeout_s: float = 120.0
) -> dict:
    """Point `stable` at another loaded version (default: the newest one older than `stable`)."""
    entry = current(serving)
    stable, loaded = entry.labels.get(STABLE), list(entry.versions or ())
    if to_version is None:
        older = [v for v in loaded if stable is not None and v < stable]
        if not older:
            raise ServingError(
                f"no loaded version of {serving.model} older than stable version {stable} to roll back "
                f"to (loaded: {loaded or 'none'}) in {serving.models_config}",
                file=str(serving.models_config),
                rule="rollback-last-version",
            )
        to_version = older[-1]
    if to_version not in loaded or to_version == stable:
        raise ServingError(
            f"version {to_version} of {serving.model} is "
            f"{'already stable' if to_version == stable else 'not loaded'} (loaded: {loaded or 'none'}, "
            f"stable: {stable}) in {serving.models_config}; a retired version comes back only by "
            "pushing its model again",
            file=str(serving.models_config),
            rule="rollback-target",
        )
    labels = {name: (to_version if v == stable else v) for name, v in entry.labels.items()}
    _write(serving, entry.with_(labels={**labels, STABLE: to_version}))
    _log(serving, {"event": "rollback", "label": STABLE, "version": to_version, "from": stable})
    if url is not None:
        client.wait_for_label(url, serving.model, STABLE, to_version, timeout_s)
    return {"previous_stable": stable, "stable": to_version, "labels": {**labels, STABLE: to_version}}
