"""A SavedModel's graph stored in one canonical byte form.

TensorFlow's function pruning (TFT's transform graph goes through it) creates a function's
nodes in an order that follows Python object identities, so two traces of the same
preprocessing_fn list the same nodes in different orders from one process to the next. The
order of a FunctionDef's nodes carries no meaning (nodes name their inputs), so the nodes are
stored sorted by name, the proto serialized deterministically, and `fingerprint.pb` rewritten
from the result with TensorFlow's own fingerprinting.
"""

from __future__ import annotations

from pathlib import Path

from ml.atomic import atomic_write_bytes

SAVED_MODEL_PB = "saved_model.pb"


def canonicalize_saved_model(export_dir: Path) -> None:
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.saved_model import fingerprinting_utils

    path = Path(export_dir) / SAVED_MODEL_PB
    model = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    for meta_graph in model.meta_graphs:
        for function in meta_graph.graph_def.library.function:
            nodes = sorted(function.node_def, key=lambda node: node.name)
            del function.node_def[:]
            function.node_def.extend(nodes)
    atomic_write_bytes(path, model.SerializeToString(deterministic=True))
    fingerprinting_utils.write_fingerprint(str(export_dir))
