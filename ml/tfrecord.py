"""Deterministic TFRecord writing without importing TensorFlow.

Record framing: uint64 length, masked crc32c(length), data, masked crc32c(data).
Gzip with mtime=0 and no file name, so the same records give byte-identical files.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import google_crc32c


def _masked_crc(data: bytes) -> bytes:
    crc = google_crc32c.value(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def frame(record: bytes) -> bytes:
    """One record in TFRecord framing."""
    header = struct.pack("<Q", len(record))
    return header + _masked_crc(header) + record + _masked_crc(record)


def gzipped_tfrecords(records: Iterable[bytes], compresslevel: int = 9) -> bytes:
    """A whole gzipped TFRecord file in memory (a small batch: one write, no temp file reopen)."""
    return gzip.compress(b"".join(frame(r) for r in records), compresslevel=compresslevel, mtime=0)


def write_tfrecords(path: Path, records: Iterable[bytes]) -> int:
    """Write gzipped TFRecords to `path` (caller makes it atomic). Returns the record count."""
    count = 0
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out:
        for record in records:
            out.write(frame(record))
            count += 1
    return count


def read_tfrecords(path: Path) -> Iterator[bytes]:
    """Read records from a TFRecord file, gzipped (examples) or plain (TFDV statistics), checking
    the data crc."""
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    with gzip.open(path, "rb") if gzipped else open(path, "rb") as fh:
        while header := fh.read(12):
            (length,) = struct.unpack("<Q", header[:8])
            data = fh.read(length)
            crc = fh.read(4)
            if _masked_crc(data) != crc:
                raise ValueError(f"corrupt TFRecord in {path}")
            yield data


def read_statistics(path: Path) -> Any:
    """A TFDV statistics file (`DatasetFeatureStatisticsList` TFRecord) without TensorFlow/TFDV."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    stats = statistics_pb2.DatasetFeatureStatisticsList()
    for record in read_tfrecords(path):
        stats.MergeFromString(record)
    return stats
