"""Tables cut by a bucket column: how the partitioned steps of the shards job pass rows on.

A task that routes rows writes one file whose row groups each hold one bucket (sorted by
it); the task that owns a bucket reads every such file with a filter on the column, and
Parquet's row-group statistics skip the other buckets without reading them. So each step's
output is one file per task, written atomically, and no process ever holds more than its
share.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from openwit.core.io import atomic_output


def write_buckets(table: pa.Table, column: str, path: str | Path) -> None:
    """Write `table` with one row group per value of `column` (atomically)."""
    table = table.sort_by(column)
    values = table.column(column).to_numpy()
    cuts = np.flatnonzero(np.diff(values)) + 1
    with atomic_output(path) as f, pq.ParquetWriter(f, table.schema) as writer:
        if not table.num_rows:
            writer.write_table(table)
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(values)], strict=True):
            writer.write_table(table.slice(lo, hi - lo))


def read_bucket(
    files: list[Path], column: str, value: int, columns: list[str] | None = None
) -> pa.Table:
    """The rows of bucket `value` from every file `write_buckets` wrote."""
    if not files:
        raise ValueError("read_bucket: no files to read")
    table = pq.read_table([str(f) for f in files], filters=[(column, "=", value)])
    return table.select(columns) if columns else table


def part_of(ids: np.ndarray) -> np.ndarray:
    """A scanned row's id is (scan part << 32) | row: its part."""
    return (ids >> 32).astype(np.int32)


def row_of(ids: np.ndarray) -> np.ndarray:
    return (ids & 0xFFFFFFFF).astype(np.int64)


def string_buckets(values: pa.Array, buckets: int) -> np.ndarray:
    """A stable bucket per string (CRC-32: the same on every machine and run)."""
    if buckets == 1:
        return np.zeros(len(values), np.int32)
    out = np.fromiter(
        (zlib.crc32(v.encode()) for v in values.to_pylist()), np.int64, count=len(values)
    )
    return (out % buckets).astype(np.int32)


def ids_in(ids: pa.Array | np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Mask of `ids` that are in `wanted`."""
    return pc.is_in(pa.array(ids), value_set=pa.array(wanted, pa.int64())).to_numpy(
        zero_copy_only=False
    )
