"""`serving-status`: the version labels (`stable` = live), loaded and retired versions with their
metrics, blessing and history; with a URL, what TF Serving itself reports per version and label."""

from __future__ import annotations

from pathlib import Path

from ml.atomic import read_json
from ml.config import PipelineConfig
from ml.roots import Roots
from ml.serving import labels as version_labels
from ml.serving import tf_serving_client as client
from ml.serving.layout import METADATA_DIR, RETIRED_METADATA, ServingLayout
from ml.serving.models_config import read_entries


def _version_info(serving: ServingLayout, version_dir: Path, version: int) -> dict:
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


def _ask_tf_serving(url: str, model: str, labels: dict[str, int]) -> dict:
    answers: dict = {}
    asks: list[tuple[str, str | None]] = [("versions", None), *((f"labels/{n}", n) for n in sorted(labels))]
    for name, label in asks:
        try:
            answers[name] = client.model_status(url, model, label=label)
        except client.RequestFailed as exc:
            answers[name] = {"error": str(exc)}
    return answers


def serving_status(cfg: PipelineConfig, roots: Roots, serving_url: str | None = None) -> dict:
    serving = ServingLayout.of(cfg, roots)
    entry = version_labels.current(serving)
    labels, loaded = entry.labels, set(entry.versions or ())
    stable = labels.get(version_labels.STABLE)
    versions = [
        {
            **_version_info(serving, serving.version_dir(v), v),
            "labels": sorted(name for name, at in labels.items() if at == v),
            "loaded": v in loaded,
            "live": v == stable,
        }
        for v in serving.versions()
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
        "labels": labels,
        "live_version": stable,
        "loaded_versions": sorted(loaded),
        "versions": versions,
        "retired": retired,
        "label_history": version_labels.label_events(serving),
        "models_config": read_entries(serving.models_config),
    }
    if serving_url:
        result["tf_serving"] = _ask_tf_serving(serving_url, serving.model, labels)
    return result
