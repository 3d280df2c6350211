"""A SavedModel's graph stored in one canonical byte form.

Two traces of the same preprocessing_fn give the same graph in different bytes:
- TensorFlow names every traced function `__inference_<name>_<uid>` from a process-wide
  counter, so a second transform in the same process (a test, a long-lived worker) numbers
  them differently; they are renumbered 0, 1, 2... in the order the uids were handed out;
- captured resources are passed as arguments whose `_user_specified_name` is a number from
  another process-wide counter; those are renumbered the same way;
- function pruning (TFT's graph goes through it) creates a function's nodes in an order that
  follows Python object identities; a FunctionDef's node order carries no meaning (nodes name
  their inputs), so the nodes are stored sorted by name, and the functions too.
The proto is then serialized deterministically and `fingerprint.pb` rewritten from the result
with TensorFlow's own fingerprinting.
"""

from __future__ import annotations

import re
from pathlib import Path

from ml.atomic import atomic_write_bytes
from ml.model.layout import SAVED_MODEL_PB

_UID = re.compile(r"^(.*_)(\d+)$")
_NUMBERED_ARG = re.compile(r'(key: "_user_specified_name"\s*value \{\s*s: ")(\d+)(")')


def _renumbered(names: list[str]) -> dict[str, str]:
    """Function name -> the same name with its uid replaced by its rank among the uids."""
    numbered = {name: _UID.match(name) for name in names}
    uids = sorted({int(m[2]) for m in numbered.values() if m})
    rank = {uid: i for i, uid in enumerate(uids)}
    return {name: f"{m[1]}{rank[int(m[2])]}" for name, m in numbered.items() if m}


def canonicalize_saved_model(export_dir: Path) -> None:
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.saved_model import fingerprinting_utils

    path = Path(export_dir) / SAVED_MODEL_PB
    model = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    names = [f.signature.name for mg in model.meta_graphs for f in mg.graph_def.library.function]
    renamed = _renumbered(names)
    text = text_format.MessageToString(model)
    if renamed:
        alternatives = "|".join(map(re.escape, sorted(renamed, key=len, reverse=True)))
        text = re.sub(rf'(?<=")({alternatives})(?=")', lambda m: renamed[m[1]], text)
    args = {uid: i for i, uid in enumerate(sorted({int(m[2]) for m in _NUMBERED_ARG.finditer(text)}))}
    text = _NUMBERED_ARG.sub(lambda m: f"{m[1]}{args[int(m[2])]}{m[3]}", text)
    model = text_format.Parse(text, saved_model_pb2.SavedModel())
    for meta_graph in model.meta_graphs:
        library = meta_graph.graph_def.library
        functions = sorted(library.function, key=lambda f: f.signature.name)
        del library.function[:]
        library.function.extend(functions)
        for function in library.function:
            nodes = sorted(function.node_def, key=lambda node: node.name)
            del function.node_def[:]
            function.node_def.extend(nodes)
    atomic_write_bytes(path, model.SerializeToString(deterministic=True))
    fingerprinting_utils.write_fingerprint(str(export_dir))
