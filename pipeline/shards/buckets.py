"""Tables cut by a bucket column: how the partitioned steps of the shards job pass rows on.

A task that routes rows writes one Arrow IPC file (LZ4) with one record batch per bucket and
the bucket of each batch in the schema's metadata; the task that owns a bucket opens every
such file and reads its own batch only. An IPC file's footer is an index of its batches, so a
read costs the same however many buckets the file holds: a shuffle of P files into B
buckets reads P x B batches, not P x B x B row-group descriptions as Parquet's footers would.
Each file is written atomically; no process ever holds more than its share.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa

from openwit.core.io import atomic_output

SUFFIX = ".arrow"
_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4")


def write_buckets(table: pa.Table, column: str, path: str | Path) -> None:
    """Write `table` with one record batch per value of `column` (atomically)."""
    table = table.sort_by(column).combine_chunks()
    values = table.column(column).to_numpy()
    cuts = np.flatnonzero(np.diff(values)) + 1
    starts = np.r_[0, cuts].astype(int) if len(values) else np.zeros(0, int)
    ends = np.r_[cuts, len(values)].astype(int) if len(values) else np.zeros(0, int)
    buckets = [int(values[s]) for s in starts]
    schema = table.schema.with_metadata({"buckets": json.dumps(buckets)})
    with atomic_output(path) as f, pa.ipc.new_file(f, schema, options=_OPTIONS) as writer:
        for s, e in zip(starts, ends, strict=True):
            (batch,) = table.slice(s, e - s).combine_chunks().to_batches()  # one per bucket
            writer.write_batch(batch)


def read_bucket(files: list[Path], column: str, value: int) -> pa.Table:
    """The rows of bucket `value` from every file `write_buckets` wrote."""
    if not files:
        raise ValueError("read_bucket: no files to read")
    batches, schema = [], None
    for path in files:
        with pa.memory_map(str(path)) as source:
            reader = pa.ipc.open_file(source)
            schema = reader.schema
            where = json.loads(schema.metadata[b"buckets"])
            if value in where:
                batches.append(reader.get_batch(where.index(value)))
    return pa.Table.from_batches(batches, schema=schema.remove_metadata())


def bucket_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"*{SUFFIX}"))


def bucket_counts(path: Path, column: str, buckets: int) -> np.ndarray:
    """Rows per bucket in one file, from its batches' lengths."""
    counts = np.zeros(buckets, np.int64)
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source)
        for k, b in enumerate(json.loads(reader.schema.metadata[b"buckets"])):
            counts[b] = reader.get_batch(k).num_rows
    return counts


def row_of(ids: np.ndarray) -> np.ndarray:
    """A scanned row's id is (scan part << 32) | row: its row in the part."""
    return (ids & 0xFFFFFFFF).astype(np.int64)


def string_buckets(values: pa.Array, buckets: int) -> np.ndarray:
    """A stable bucket per string (CRC-32: the same on every machine and run)."""
    if buckets == 1:
        return np.zeros(len(values), np.int32)
    out = np.fromiter(
        (zlib.crc32(v.encode()) for v in values.to_pylist()), np.int64, count=len(values)
    )
    return (out % buckets).astype(np.int32)
