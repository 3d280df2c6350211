"""DataFrame -> Arrow list columns (for TFDV) and -> serialized tf.Examples (for ingest).

tf.Example bytes are encoded here directly, with features in sorted order, because
protobuf map serialization (tfx-bsl's encoder, TF's SerializeToString) is not deterministic
and ingest must be byte-for-byte repeatable. It also keeps TensorFlow out of ingest.
"""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pyarrow as pa


def list_wrap(flat: pa.Array) -> pa.ListArray:
    """Wrap each value of a flat Arrow array in a one-element list; nulls become null lists.

    Vectorised (no Python loop over rows): offsets are the running count of valid values.
    """
    if isinstance(flat, pa.ChunkedArray):
        flat = flat.combine_chunks()
    size = len(flat)
    if flat.null_count == 0:
        return pa.ListArray.from_arrays(pa.array(np.arange(size + 1, dtype=np.int32)), flat)
    valid = flat.is_valid().to_numpy(zero_copy_only=False)
    offsets = np.zeros(size + 1, dtype=np.int32)
    np.cumsum(valid, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), flat.drop_null(), mask=pa.array(~valid))


def to_list_array(values: pd.Series, typ: str) -> pa.Array:
    """One value per row wrapped in a list (nulls become null lists), as TFDV/tfx-bsl expect."""
    mask = values.isna().to_numpy()
    if typ == "string":
        flat = pa.array(
            [None if m else str(v).encode() for v, m in zip(values, mask, strict=True)],
            type=pa.large_binary(),
        )
    elif typ == "int":
        flat = pa.array(values.to_numpy(dtype="float64", na_value=np.nan), mask=mask, from_pandas=True).cast(
            pa.int64(), safe=False
        )
    else:
        flat = pa.array(values.to_numpy(dtype="float32", na_value=np.nan), mask=mask, type=pa.float32())
    return list_wrap(flat)


def to_record_batch(frame: pd.DataFrame, types: dict[str, str]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([to_list_array(frame[c], t) for c, t in types.items()], list(types))


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # int64 two's complement, as protobuf encodes negatives
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    return bytes([tag]) + _varint(len(payload)) + payload


def _feature_bytes(value, typ: str) -> bytes:
    """Serialized tf.train.Feature holding one value."""
    if typ == "string":
        return _field(0x0A, _field(0x0A, str(value).encode()))  # bytes_list.value
    if typ == "float":
        return _field(0x12, _field(0x0A, struct.pack("<f", float(value))))  # float_list, packed
    return _field(0x1A, _field(0x0A, _varint(int(value))))  # int64_list, packed


def serialize_examples(frame: pd.DataFrame, types: dict[str, str]) -> list[bytes]:
    """Serialized tf.train.Example per row; features sorted by name, missing values omitted."""
    columns = []
    for name in sorted(types):
        key = _field(0x0A, name.encode())
        series = frame[name]
        mask = series.isna().to_numpy()
        columns.append(
            [
                b"" if m else _field(0x0A, key + _field(0x12, _feature_bytes(v, types[name])))
                for v, m in zip(series.tolist(), mask, strict=True)
            ]
        )
    return [_field(0x0A, b"".join(parts)) for parts in zip(*columns, strict=True)]
