"""Balance step: MetaCLIP's rule, which caps how many pairs each query entry keeps.

Entry e, matched by count_e pairs of the whole pool, gets p_e = min(1, t / count_e). A pair
matching entries E is kept with probability 1 - prod_{e in E}(1 - p_e): one independent draw
per entry, kept on the first success. Only subsampling, never repetition (DataComp saw
repetition-based balancing make the contrastive loss diverge).

The draw for (pair, entry) is a hash of the pair's id, the entry and the seed, so a decision
does not depend on how the pool was partitioned or in what order it was read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from openwit.core.vocab import Pool

CLIP_T = 20_000  # the CLIP paper's cap per query


@dataclass(frozen=True)
class BalanceConfig:
    t: int = CLIP_T
    seed: int = 0


def probabilities(counts: np.ndarray, t: int) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.minimum(1.0, t / np.maximum(counts, 1)).astype(np.float64)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a fast, well-spread 64-bit hash, vectorised."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def uniforms(pair_ids: np.ndarray, entries: np.ndarray, seed: int) -> np.ndarray:
    """U(0,1) per (pair, entry), from a hash: reproducible anywhere."""
    salt = _mix(entries.astype(np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15) % 2**64))
    return (_mix(pair_ids ^ salt) >> np.uint64(11)).astype(np.float64) / float(2**53)


def keep_mask(table: pa.Table, p: np.ndarray, seed: int) -> np.ndarray:
    matched = table.column("matched")
    entries = pc.list_flatten(matched).to_numpy(zero_copy_only=False).astype(np.int64)
    parents = pc.list_parent_indices(matched).to_numpy(zero_copy_only=False)
    ids = np.array([int(h, 16) for h in table.column("pair_id").to_pylist()], dtype=np.uint64)
    hits = uniforms(ids[parents], entries, seed) < p[entries]
    return np.bincount(parents[hits], minlength=table.num_rows) > 0


def balance_table(table: pa.Table, p: np.ndarray, cfg: BalanceConfig) -> pa.Table:
    """Adds `status`: `no_match`, `opted_out`, `balanced_out` or `selected`."""
    keep = keep_mask(table, p, cfg.seed)
    has_match = pc.list_value_length(table.column("matched")).to_numpy(zero_copy_only=False) > 0
    status = np.where(
        ~has_match,
        Pool.NO_MATCH.value,
        np.where(keep, Pool.SELECTED.value, Pool.BALANCED_OUT.value),
    )
    if "optout" in table.column_names:
        opted = pc.is_valid(table.column("optout")).to_numpy(zero_copy_only=False)
        status = np.where(has_match & opted, Pool.OPTED_OUT.value, status)
    return table.append_column("status", pa.array(status.tolist(), pa.string()))
