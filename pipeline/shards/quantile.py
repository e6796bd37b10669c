"""Exact quantiles of float32 values spread over many partitions, from counts that merge by
addition: whoever merges holds 2 x 65,536 counts, never the values.

A float32 maps to a uint32 key in the values' own order (negatives: every bit flipped; the
rest: the sign bit set). Pass 1 counts each partition's keys by their high 16 bits; the
merged counts say which bucket holds the value of rank r. Pass 2 counts, in that bucket only,
the low 16 bits, which gives the value itself. NumPy's linear rule then interpolates between
the values at the two ranks around the quantile, so the result equals `np.quantile` over the
concatenated values.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

BUCKETS = 1 << 16


def keys(values: np.ndarray) -> np.ndarray:
    u = np.ascontiguousarray(values, np.float32).view(np.uint32)
    return np.where(u >> 31 == 1, ~u, u | np.uint32(0x8000_0000)).astype(np.uint32)


def value(key: int) -> float:
    u = key & 0x7FFF_FFFF if key >> 31 else ~key & 0xFFFF_FFFF
    return float(np.array([u], np.uint32).view(np.float32)[0])


def counts(values: np.ndarray, bucket: int | None = None) -> np.ndarray:
    """Pass 1 (`bucket` None): how many keys per high half. Pass 2: how many keys per low half
    among those whose high half is `bucket`."""
    k = keys(values)
    if bucket is None:
        return np.bincount(k >> 16, minlength=BUCKETS)
    return np.bincount(k[(k >> 16) == bucket] & 0xFFFF, minlength=BUCKETS)


def _at(merged: np.ndarray, rank: int) -> tuple[int, int]:
    """(index, rank within it) of the value of 0-based `rank` among merged counts."""
    cum = np.cumsum(merged)
    i = int(np.searchsorted(cum, rank, side="right"))
    return i, rank - (int(cum[i - 1]) if i else 0)


def quantile(count_parts: Callable[[int | None], np.ndarray], q: float) -> float | None:
    """The q-quantile (NumPy's linear rule) of every partition's values; `count_parts(bucket)`
    returns the merged `counts` of all partitions. None if there are no values."""
    coarse = count_parts(None)
    n = int(coarse.sum())
    if n == 0:
        return None
    index = (n - 1) * q  # as np.quantile computes it
    lo = math.floor(index)
    fine: dict[int, np.ndarray] = {}  # pass 2 runs once per bucket, at most twice
    pair = []
    for rank in (lo, min(lo + 1, n - 1)):
        bucket, within = _at(coarse, rank)
        if bucket not in fine:
            fine[bucket] = count_parts(bucket)
        pair.append(value((bucket << 16) | _at(fine[bucket], within)[0]))
    # Interpolated by NumPy's own rule: between two values, at the same fraction.
    return float(np.quantile(np.array(pair), index - lo))
