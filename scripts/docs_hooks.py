"""mkdocs hook (mkdocs.yml `hooks:`): the references generated from the code at build time.

- `<!-- ml-cli-reference -->` becomes every `python -m ml` command with its usage and flags,
  read from the CLI's own argparse parsers (`ml.cli.build_parser`);
- `<!-- pipeline-yaml-reference -->` becomes every pipeline.yaml key with its type, default and
  constraints from the pydantic schema (`PipelineYaml.model_json_schema()`), and its meaning
  from the class docstrings and the comment beside each field in `ml/config_schema.py`.

- `<!-- artifact-schemas -->` becomes the JSON schema of each typed artifact a step writes
  (`ml.model.blessing`: the blessing, the infra blessing), field by field.

So no reference can drift from the code: a flag, key or field added there appears here.
"""

from __future__ import annotations

import argparse
import inspect
import io
import re
import sys
import tokenize
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLI_MARKER = "<!-- ml-cli-reference -->"
CONFIG_MARKER = "<!-- pipeline-yaml-reference -->"
ARTIFACT_MARKER = "<!-- artifact-schemas -->"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def subcommands() -> dict[str, argparse.ArgumentParser]:
    """The `python -m ml` subcommand parsers, by name."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from ml.cli import build_parser

    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def cli_reference() -> str:
    out = []
    for name, sub in subcommands().items():
        out += [
            f"### `{name}`",
            "",
            _cell(sub.description or ""),
            "",
            "```",
            sub.format_usage().strip(),
            "```",
            "",
        ]
        out += ["| flag | what | default |", "| --- | --- | --- |"]
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            flags = ", ".join(f"`{o}`" for o in action.option_strings) or f"`{action.dest}`"
            if action.choices:
                flags += " " + "\\|".join(map(str, action.choices))
            default = action.default if action.default not in (None, argparse.SUPPRESS, False) else ""
            req = " (required)" if action.required and action.option_strings else ""
            out.append(f"| {flags}{req} | {_cell(action.help or '')} | {_cell(default)} |")
        out.append("")
    return "\n".join(out)


def field_comments(module: str = "ml.config_schema") -> dict[tuple[str, str], str]:
    """(class, field) -> the comment beside the field in `module` (default ml/config_schema.py)."""
    import importlib

    schema = importlib.import_module(module)

    comments: dict[tuple[str, str], str] = {}
    for cls_name, cls in inspect.getmembers(schema, inspect.isclass):
        if cls.__module__ != schema.__name__:
            continue
        source = inspect.getsource(cls)
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                line = source.splitlines()[tok.start[0] - 1]
                match = re.match(r"\s{4}(\w+)\s*:", line)
                if match:
                    comments[cls_name, match[1]] = tok.string.lstrip("# ").strip()
    return comments


def _type(spec: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in spec:
        return "a table (below)"
    if "anyOf" in spec:
        return " or ".join(_type(s, defs) for s in spec["anyOf"])
    if "enum" in spec:
        return " \\| ".join(f"`{v}`" for v in spec["enum"])
    if "const" in spec:
        return f"`{spec['const']}`"
    kind = spec.get("type", "any")
    if "format" in spec:
        return spec["format"]
    if kind == "array":
        return f"list of {_type(spec.get('items', {}), defs)}"
    if kind == "object" and "additionalProperties" in spec:
        value = spec["additionalProperties"]
        if not isinstance(value, dict):  # `true`: any value
            return "map of name → any"
        return "map of name → " + ("a table (below)" if "$ref" in value else _type(value, defs))
    return {"string": "text", "integer": "int", "number": "number", "boolean": "bool"}.get(kind, kind)


def _default(spec: dict[str, Any]) -> str:
    value = spec.get("default")
    if isinstance(value, dict) and value and ("$ref" in spec or "anyOf" in spec):
        return "see below"
    return "none" if value is None else f"`{_cell(value)}`"


def _limits(spec: dict[str, Any]) -> str:
    words = {"minimum": "≥", "exclusiveMinimum": ">", "maximum": "≤", "exclusiveMaximum": "<"}
    parts = [f"{sign} {spec[k]}" for k, sign in words.items() if k in spec]
    parts += [f"at least {spec[k]} item(s)" for k in ("minItems", "minProperties") if k in spec]
    parts += [f"at least {spec['minLength']} character(s)"] if "minLength" in spec else []
    return ", ".join(parts)


def config_reference() -> str:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from ml.config_schema import PipelineYaml

    schema = PipelineYaml.model_json_schema()
    defs = schema.get("$defs", {})
    comments = field_comments()
    out: list[str] = []

    def table(name: str, model: dict[str, Any], prefix: str) -> None:
        required = set(model.get("required", []))
        out.extend([f"### `{prefix or 'pipeline.yaml'}`", ""])
        if model.get("description"):
            out.extend([_cell(model["description"]), ""])
        out.extend(["| key | type | default | meaning |", "| --- | --- | --- | --- |"])
        nested = []
        for key, spec in model.get("properties", {}).items():
            default = "required" if key in required else _default(spec)
            limits = _limits(spec)
            meaning = comments.get((name, key), "")
            meaning = "; ".join(p for p in (meaning, limits) if p)
            out.append(f"| `{key}` | {_type(spec, defs)} | {default} | {_cell(meaning)} |")
            refs = [spec] + spec.get("anyOf", []) + [spec.get("additionalProperties") or {}]
            for ref in refs:
                if "$ref" in ref:
                    nested.append((key, ref["$ref"].rsplit("/", 1)[-1]))
        out.append("")
        for key, target in nested:
            path = f"{prefix}.{key}" if prefix else key
            if spec_is_map(model, key):
                path += ".<name>"
            table(target, defs[target], path)

    def spec_is_map(model: dict[str, Any], key: str) -> bool:
        return "additionalProperties" in model["properties"][key]

    table("PipelineYaml", schema, "")
    return "\n".join(out)


# (module, class, where it lives): every typed artifact a step writes or returns
TYPED_ARTIFACTS = (
    ("ml.data.span_results", "IngestSummary", "spans/<span>/examples/summary.json; the `ingest` result"),
    ("ml.artifact", "StepFailure", "spans/<span>/ingest_failure.json"),
    ("ml.data.span_results", "SpanVerdict", "spans/<span>/validation/verdict.json"),
    ("ml.data.span_results", "ValidateResult", "the `validate` result"),
    ("ml.model.train_result", "TrainResult", "M/train_result.json; the `train` result"),
    ("ml.model.blessing", "Blessing", "E/blessing.json; the `evaluate` result"),
    ("ml.model.blessing", "InfraBlessing", "M/infra_blessing.json; the `infra-validate` result"),
    ("ml.serving.push", "PushResult", "the `push` result"),
    ("ml.monitoring.monitor_result", "MonitorResult", "the `monitor` result (numbers: monitor.json)"),
    ("ml.results.retrain", "RetrainDecision", "the `retrain-check` result"),
    ("ml.artifact", "StepOutcome", "`--outcome FILE`: what a runner reads back"),
)


def artifact_reference() -> str:
    """Each typed artifact: where it lives, its docstring, and one row per field (type, default,
    whether the step's result carries it) from its JSON schema."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import importlib

    out: list[str] = []
    for module_name, name, where in TYPED_ARTIFACTS:
        model = getattr(importlib.import_module(module_name), name)
        comments = field_comments(module_name)
        schema = model.model_json_schema()
        defs = schema.get("$defs", {})
        required = set(schema.get("required", []))
        out += [f"### `{name}`", "", f"{_cell(model.__doc__ or '')} ({where})", ""]
        out += [
            "| field | type | default | in the step's result | meaning |",
            "| --- | --- | --- | --- | --- |",
        ]
        for key, spec in schema["properties"].items():
            default = "required" if key in required else _default(spec)
            shown = "no (file only)" if spec.get("detail") else "yes"
            meaning = _cell(comments.get((model.__name__, key), ""))
            out.append(f"| `{key}` | {_type(spec, defs)} | {default} | {shown} | {meaning} |")
        out.append("")
        for sub_name, sub in defs.items():
            fields = ", ".join(f"`{k}` ({_type(v, defs)})" for k, v in sub["properties"].items())
            out += [f"`{sub_name}`: {fields}", ""]
    return "\n".join(out)


def on_page_markdown(markdown: str, **_: Any) -> str:
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
    if CONFIG_MARKER in markdown:
        markdown = markdown.replace(CONFIG_MARKER, config_reference())
    if ARTIFACT_MARKER in markdown:
        markdown = markdown.replace(ARTIFACT_MARKER, artifact_reference())
    return markdown
