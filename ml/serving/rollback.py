"""Rollback (move the `stable` label back, ml/serving/labels.py) and retirement of versions
(moved to `<serving_root>/.retired/<model>/<v>/`, never deleted)."""

from __future__ import annotations

import datetime as dt
import os

from ml.atomic import atomic_write_json
from ml.config import PipelineConfig
from ml.errors import MissingArtifact
from ml.roots import Roots
from ml.serving import labels
from ml.serving.layout import METADATA_DIR, RETIRED_METADATA, ServingLayout
from ml.serving.lock import serving_lock


def retire_version(serving: ServingLayout, version: int, reason: str) -> str:
    """Move one version out of the model base path (callers hold the serving lock and have taken
    it out of models.config first).
    """
    source = serving.version_dir(version)
    target = serving.retired / str(version)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        raise MissingArtifact(
            f"{target} already exists; refusing to overwrite a retired version",
            file=str(target),
            rule="retired-exists",
        )
    os.rename(source, target)
    atomic_write_json(
        target / METADATA_DIR / RETIRED_METADATA,
        {
            "version": version,
            "reason": reason,
            "retired_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    )
    return str(target)


def rollback(
    cfg: PipelineConfig,
    roots: Roots,
    to_version: int | None = None,
    *,
    serving_url: str | None = None,
    timeout_s: float | None = None,
) -> dict:
    """Move `stable` to `to_version` (default: the newest loaded version older than `stable`).

    One models.config write, nothing copied or retired: the version rolled back from stays loaded
    (and can be promoted again with `--to-version`) until retention retires it.
    """
    serving = ServingLayout.of(cfg, roots)
    with serving_lock(serving.lock_file):
        moved = labels.move_stable(
            serving,
            to_version,
            url=serving_url,
            timeout_s=timeout_s or cfg.serving.wait_timeout_s,
        )
    return {
        "model": serving.model,
        **moved,
        "live_version": moved["stable"],
        "loaded_versions": list(labels.current(serving).versions or ()),
        "served_versions": serving.versions(),
    }
