"""`serving-status`: what is served (live = highest version), with metrics, blessing, history."""

from __future__ import annotations

from ml.atomic import read_json
from ml.config import PipelineConfig
from ml.roots import Roots
from ml.serving import tf_serving_client as client
from ml.serving.layout import METADATA_DIR, RETIRED_METADATA, ServingLayout
from ml.serving.models_config import read_entries


def _version_info(serving: ServingLayout, version_dir, version: int) -> dict:
    meta = serving.metadata(version_dir)
    return {
        "version": version,
        "path": str(version_dir),
        "pushed_at": meta.get("pushed_at"),
        "blessed": meta.get("blessed"),
        "metrics": meta.get("metrics"),
        "baseline": meta.get("baseline"),
        "source_model_dir": meta.get("source_model_dir"),
    }


def serving_status(cfg: PipelineConfig, roots: Roots, serving_url: str | None = None) -> dict:
    serving = ServingLayout.of(cfg, roots)
    live = serving.latest()
    versions = [
        {**_version_info(serving, serving.version_dir(v), v), "live": v == live} for v in serving.versions()
    ]
    retired = []
    for v in serving.retired_versions():
        folder = serving.retired / str(v)
        why = folder / METADATA_DIR / RETIRED_METADATA
        retired.append(
            {
                **_version_info(serving, folder, v),
                **({k: read_json(why).get(k) for k in ("reason", "retired_at")} if why.is_file() else {}),
            }
        )
    result = {
        "model": serving.model,
        "base_path": str(serving.base),
        "live_version": live,
        "versions": versions,
        "retired": retired,
        "models_config": read_entries(serving.models_config),
    }
    if serving_url:
        try:
            result["tf_serving"] = client.model_status(serving_url, serving.model)
        except client.ServingError as exc:
            result["tf_serving"] = {"error": str(exc)}
    return result
