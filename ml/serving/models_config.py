"""TF Serving's `models.config` (ModelServerConfig, protobuf text format), read and written with
TF Serving's own proto (`tensorflow_serving.config.model_server_config_pb2`, no TensorFlow import).

One `config` entry per model folder in the serving root. Our entries use the `specific` version
policy (the versions TF Serving keeps loaded) and `version_labels` (`stable`, `canary`; see
ml/serving/labels.py). An entry written before labels existed (`latest { num_versions: 1 }`)
reads as `versions=None`. Start TF Serving with `--model_config_file=<root>/models.config
--model_config_file_poll_wait_seconds=30 --allow_version_labels_for_unavailable_models=true`
(the last flag lets a restarted server accept labels before their versions finish loading).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ml.atomic import atomic_write_text
from ml.errors import ServingError

HEADER = "# Written by `python -m ml push` / `rollback`; one entry per model.\n"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    base_path: str
    versions: tuple[int, ...] | None = None  # specific { versions }; None = latest { 1 }
    labels: dict[str, int] = field(default_factory=dict)

    def with_(self, **changes) -> ModelEntry:
        return replace(self, **changes)


def _pb2():
    from tensorflow_serving.config import model_server_config_pb2

    return model_server_config_pb2


def parse(text: str, source: str = "a ModelServerConfig") -> dict[str, ModelEntry]:
    """`{model name: entry}` of a ModelServerConfig text; a syntax error is one PipelineError."""
    from google.protobuf import text_format

    message = _pb2().ModelServerConfig()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as exc:
        raise ServingError(
            f"{source} is not a ModelServerConfig: {exc}", file=source, rule="models-config"
        ) from None
    entries = {}
    for config in message.model_config_list.config:
        policy = config.model_version_policy
        versions = (
            tuple(sorted(policy.specific.versions))
            if policy.WhichOneof("policy_choice") == "specific"
            else None
        )
        entries[config.name] = ModelEntry(
            config.name, config.base_path, versions, dict(config.version_labels)
        )
    return entries


def read(path: Path) -> dict[str, ModelEntry]:
    return parse(path.read_text(), str(path)) if path.is_file() else {}


def read_entries(path: Path) -> dict[str, str]:
    """`{model name: base path}`."""
    return {name: entry.base_path for name, entry in read(path).items()}


def render(entries: dict[str, ModelEntry]) -> str:
    from google.protobuf import text_format

    pb2 = _pb2()
    message = pb2.ModelServerConfig()
    for name in sorted(entries):
        entry = entries[name]
        config = message.model_config_list.config.add()
        config.name, config.base_path, config.model_platform = entry.name, entry.base_path, "tensorflow"
        if entry.versions is None:
            config.model_version_policy.latest.num_versions = 1
        else:
            config.model_version_policy.specific.versions[:] = sorted(entry.versions)
        for label, version in sorted(entry.labels.items()):
            config.version_labels[label] = version
    return HEADER + text_format.MessageToString(message)


def upsert(path: Path, entry: ModelEntry) -> dict[str, ModelEntry]:
    """Add or replace one model's entry, keeping the others; atomic."""
    entries = read(path)
    entries[entry.name] = entry
    atomic_write_text(path, render(entries))
    return entries
