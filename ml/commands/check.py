"""`check --pipeline P`: every static check of a pipeline folder, before anything runs."""

from __future__ import annotations

import argparse
from typing import Any

from ml.config import PipelineConfig
from ml.errors import DataError
from ml.roots import Roots

HELP = (
    "check a pipeline folder: pipeline.yaml against its schema (keys, types, cross-references, "
    "cadence/format/cron), module.py's functions and the columns they read, schema.pbtxt's features"
)
MODULE_FUNCTIONS = ("preprocessing_fn", "build_model")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> dict:
    """pipeline.yaml was checked when the CLI loaded it; here the module file and the schema."""
    from ml.data.derive import check_module_columns
    from ml.data.schema import load_schema, stale_features
    from ml.data.stats import span_columns
    from ml.model.preprocessing import trace

    for name in MODULE_FUNCTIONS:
        cfg.module_function(name)
    schema = load_schema(cfg.schema_path)
    in_schema = {f.name for f in schema.feature}
    missing = [c for c in span_columns(cfg) if c not in in_schema]
    if missing:
        raise DataError(
            f"{cfg.schema_path} has no feature {', '.join(missing)} (declared in pipeline.yaml)",
            file=str(cfg.schema_path),
            column=missing[0],
            rule="schema-covers-features",
        )
    ran = check_module_columns(cfg, roots)  # label function, derive_features: the columns they read
    outputs = trace(cfg)  # preprocessing_fn on symbolic features: reads only declared ones
    stale = stale_features(cfg, schema)
    notes = (
        [
            f"{cfg.schema_path.name} still lists {', '.join(stale)}, which pipeline.yaml no longer reads "
            "(neither a feature, a label source, a key nor a passthrough column): the checks ignore it; "
            f'delete its `feature {{ name: "{stale[0]}" ... }}` block{"s" if len(stale) > 1 else ""} '
            "to keep the schema honest"
        ]
        if stale
        else []
    )
    return {
        "command": "check",
        "pipeline": cfg.name,
        "ok": True,
        "checked": [
            "pipeline.yaml",
            "module.py: " + ", ".join(MODULE_FUNCTIONS),
            *(f"module.py {what}" for what in ran),
            f"module.py preprocessing_fn: {len(outputs)} outputs",
            f"schema.pbtxt: {len(in_schema)} features",
        ],
        "notes": notes,
    }


def summary(result: dict[str, Any]) -> str:
    """The one-line summary of this command's result (task log, stderr)."""
    notes = result.get("notes") or []
    line = f"pipeline {result.get('pipeline')}: {len(result.get('checked') or [])} checks passed"
    return line + (f"; {len(notes)} note(s): {notes[0]}" if notes else "")
