"""Match step: every pair gets the ids of the query entries its text contains."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from openwit.queries.match import Matcher


def match_table(table: pa.Table, matcher: Matcher) -> pa.Table:
    """Adds `matched` (list<int32>, sorted ids); an empty list means status `no_match`."""
    ids = matcher.match_many(table.column("caption").to_pylist())
    return table.append_column("matched", pa.array(ids, pa.list_(pa.int32())))


def entry_counts(table: pa.Table, n_entries: int) -> np.ndarray:
    """How many pairs of this table match each entry (summed over partitions by the job).
    Pairs whose page opted out are not counted: they never compete for an entry's places."""
    if "optout" in table.column_names:
        table = table.filter(pc.is_null(table.column("optout")))
    flat = pc.list_flatten(table.column("matched")).to_numpy(zero_copy_only=False)
    return np.bincount(flat, minlength=n_entries).astype(np.int64)
