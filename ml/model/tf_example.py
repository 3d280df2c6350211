"""Decode serialized tf.train.Example bytes without importing TensorFlow.

Used to build TF Serving REST `instances` from raw eval examples (push smoke test, status
checks) and by tests. The encoder lives in `ml/data/examples.py`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

Value = bytes | float | int


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, bytes | int]]:
    """(field number, wire type, payload) of one protobuf message."""
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        value: bytes | int
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _messages(buf: bytes) -> Iterator[tuple[int, bytes]]:
    """(field number, payload) of the length-delimited fields of one message: sub-messages,
    bytes and packed repeated fields (everything but varints)."""
    for number, _, payload in _fields(buf):
        if isinstance(payload, bytes):
            yield number, payload


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _feature_values(feature: bytes) -> tuple[str, list[Value]]:
    for kind, payload in _messages(feature):  # oneof: bytes_list=1, float_list=2, int64_list=3
        values: list[Value] = []
        for _, _, item in _fields(payload):
            if isinstance(item, int):  # int64_list, one unpacked varint (wire 0)
                values.append(_signed(item))
            elif kind == 1:
                values.append(bytes(item))
            elif kind == 2:  # packed (wire 2) or one fixed32 (wire 5): both are raw floats
                values.extend(v for (v,) in struct.iter_unpack("<f", item))
            else:  # int64_list, packed varints (wire 2)
                pos = 0
                while pos < len(item):
                    raw, pos = _varint(item, pos)
                    values.append(_signed(raw))
        return {1: "bytes", 2: "float", 3: "int"}[kind], values
    return "empty", []


def decode_example(serialized: bytes) -> dict[str, tuple[str, list[Value]]]:
    """`{feature name: (kind, values)}` with kind `bytes` | `float` | `int`."""
    out = {}
    for _, features in _messages(serialized):  # Example.features = 1
        for _, entry in _messages(features):  # Features.feature (map entries) = 1
            key, value = "", b""
            for number, payload in _messages(entry):
                if number == 1:
                    key = payload.decode()
                else:
                    value = payload
            out[key] = _feature_values(value)
    return out


def to_instance(serialized: bytes, drop: tuple[str, ...] = ()) -> dict:
    """One JSON-ready TF Serving REST instance (scalar per feature; bytes decoded as UTF-8)."""
    instance = {}
    for name, (_, values) in decode_example(serialized).items():
        if name in drop or not values:
            continue
        value = values[0]
        instance[name] = value.decode() if isinstance(value, bytes) else value
    return instance
