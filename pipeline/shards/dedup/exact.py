"""Exact duplicates in one hash bucket: rows with the same URL or the same decoded pixels.

Every row with a value lands in the bucket of that value's hash (`route.py`), so a bucket
holds every copy of each of its values. Each group of equal values becomes links from its
first row to the others; the survivor is chosen later, over the connected groups, since a
row can share its URL with one row and its pixels with another.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

LINKS = pa.schema([("a", pa.int64()), ("b", pa.int64())])


def exact_links(table: pa.Table) -> pa.Table:
    """(a, b) for every row b whose (kind, value) equals that of the earlier row a."""
    t = table.sort_by([("kind", "ascending"), ("value", "ascending"), ("id", "ascending")])
    if t.num_rows < 2:
        return LINKS.empty_table()
    kind = t.column("kind").to_numpy()
    value = t.column("value").to_numpy(zero_copy_only=False)
    ids = t.column("id").to_numpy()
    starts = np.r_[True, (kind[1:] != kind[:-1]) | (value[1:] != value[:-1])]
    first = ids[np.flatnonzero(starts)[np.cumsum(starts) - 1]]
    dup = ~starts
    return pa.table({"a": first[dup], "b": ids[dup]}, schema=LINKS)
