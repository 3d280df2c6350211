"""Retire served versions (moved to `<serving_root>/.retired/<model>/<v>/`, never deleted)."""

from __future__ import annotations

import datetime as dt
import os

from ml.atomic import atomic_write_json
from ml.config import PipelineConfig
from ml.errors import PipelineError
from ml.roots import Roots
from ml.serving.layout import METADATA_DIR, RETIRED_METADATA, ServingLayout
from ml.serving.lock import serving_lock


def retire_version(serving: ServingLayout, version: int, reason: str) -> str:
    """Move one version out of the model base path; TF Serving then serves the next highest.

    Callers hold the serving lock.
    """
    source = serving.version_dir(version)
    target = serving.retired / str(version)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        raise PipelineError(
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


def rollback(cfg: PipelineConfig, roots: Roots, to_version: int | None = None) -> dict:
    """Retire the newest version, or every version newer than `to_version`."""
    serving = ServingLayout.of(cfg, roots)
    with serving_lock(serving.lock_file):
        versions = serving.versions()
        if to_version is None:
            if len(versions) < 2:
                raise PipelineError(
                    f"refusing to retire the last served version of {serving.model} "
                    f"(served: {versions or 'none'}) under {serving.base}",
                    file=str(serving.base),
                    rule="rollback-last-version",
                )
            doomed = versions[-1:]
        else:
            if to_version not in versions:
                raise PipelineError(
                    f"version {to_version} is not served (served: {versions or 'none'}) under {serving.base}",
                    file=str(serving.base),
                    rule="rollback-target",
                )
            doomed = [v for v in versions if v > to_version]
        reason = f"rollback to version {to_version or versions[-2]}"
        retired = {v: retire_version(serving, v, reason) for v in reversed(doomed)}
        live = serving.latest()
    return {
        "model": serving.model,
        "retired": sorted(retired),
        "retired_paths": retired,
        "live_version": live,
        "served_versions": serving.versions(),
    }
