"""Batch-major tensors (a transform's outputs) -> serialized tf.Examples, through Arrow and
tfx_bsl's encoder (the one TFT itself uses for its record-batch outputs), re-serialized with
sorted feature keys: protobuf's map order is not deterministic from one process to the next,
and the transform's outputs must be byte-for-byte repeatable."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import tensorflow as tf
from tfx_bsl.coders import example_coder


def _values(array: np.ndarray) -> pa.Array:
    """tf.Example's three value kinds: float32, int64 and bytes."""
    if array.dtype.kind == "f":
        return pa.array(array.astype(np.float32, copy=False), pa.float32())
    if array.dtype.kind in "iub":
        return pa.array(array.astype(np.int64, copy=False), pa.int64())
    return pa.array(list(array), pa.binary())


def _list_column(tensor) -> pa.Array:
    """One feature: a list of values per row (dense [n, ...], ragged or sparse)."""
    if isinstance(tensor, tf.SparseTensor):
        tensor = tf.RaggedTensor.from_sparse(tensor)
    if isinstance(tensor, tf.RaggedTensor):
        values, splits = tensor.flat_values.numpy(), tensor.row_splits.numpy()
    else:
        array = tensor.numpy()
        rows = array.shape[0]
        values = array.reshape(rows, -1)
        splits = np.arange(rows + 1, dtype=np.int64) * values.shape[1]
        values = values.reshape(-1)
    return pa.ListArray.from_arrays(pa.array(splits.astype(np.int32), pa.int32()), _values(values))


class ExampleEncoder:
    """`encode({name: batch-major tensor}) -> [serialized tf.Example]`, features by name."""

    def __init__(self) -> None:
        self._encoder = example_coder.RecordBatchToExamplesEncoder()

    def encode(self, tensors: dict) -> list[bytes]:
        names = sorted(tensors)
        batch = pa.RecordBatch.from_arrays([_list_column(tensors[n]) for n in names], names)
        parse = tf.train.Example.FromString
        return [parse(ex).SerializeToString(deterministic=True) for ex in self._encoder.encode(batch)]
