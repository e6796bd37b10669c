import math

import numpy as np
import pyarrow as pa

from openwit.pipeline.crawl.balance import BalanceConfig, balance_table, keep_mask, probabilities
from openwit.pipeline.crawl.harvest import pair_id
from openwit.pipeline.crawl.match import entry_counts


def pool(n_pairs: int, seed: int = 0) -> pa.Table:
    """Pairs matching a long-tailed set of entries: entry e matched by ~ 20000 / (e+1) pairs."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, 201)
    weights /= weights.sum()
    matched = [
        sorted(set(rng.choice(200, size=int(rng.integers(0, 4)), p=weights).tolist()))
        for _ in range(n_pairs)
    ]
    ids = [pair_id(f"http://x.test/{i}.jpg", f"caption {i}", None) for i in range(n_pairs)]
    return pa.table({"pair_id": ids, "matched": pa.array(matched, pa.list_(pa.int32()))})


def test_probabilities_follow_metaclip():
    p = probabilities(np.array([0, 5, 10, 40]), t=10)
    assert p.tolist() == [1.0, 1.0, 1.0, 0.25]


def test_kept_counts_follow_the_rule():
    table = pool(30_000)
    counts = entry_counts(table, 200)
    t = 300
    p = probabilities(counts, t)
    keep = keep_mask(table, p, seed=0)
    matched = table.column("matched").to_pylist()
    # Pairs matching a single entry (nothing shared): each entry keeps Binomial(count, p_e),
    # so its kept count stays within a few standard deviations of min(count, t).
    for e in range(0, 200, 7):
        solo = [i for i, m in enumerate(matched) if m == [e]]
        n, k = len(solo), int(keep[solo].sum())
        pe = p[e]
        sd = math.sqrt(n * pe * (1 - pe)) or 1.0
        assert abs(k - n * pe) <= 4.5 * sd, (e, n, k, pe)
    # Every pair: the expected number kept is the sum of 1 - prod(1 - p_e), observed within 4.5 sd.
    probs = np.array([1 - np.prod([1 - p[e] for e in m]) if m else 0.0 for m in matched])
    mean, sd = probs.sum(), math.sqrt((probs * (1 - probs)).sum())
    assert abs(keep.sum() - mean) <= 4.5 * sd
    # Head entries are capped near t; tail entries keep everything.
    assert counts[0] > 5 * t
    # Per entry, shared pairs included: kept = sum over its pairs of P(keep), within 4.5 sd.
    for e in (0, 1, 5):
        rows = [i for i, m in enumerate(matched) if e in m]
        pe_rows = probs[rows]
        sd = math.sqrt((pe_rows * (1 - pe_rows)).sum())
        assert abs(keep[rows].sum() - pe_rows.sum()) <= 4.5 * sd
    tail = [i for i, m in enumerate(matched) if m and all(counts[e] <= t for e in m)]
    assert keep[tail].all()


def test_same_decisions_with_one_or_four_partitions_and_any_order():
    table = pool(8_000)
    p = probabilities(entry_counts(table, 200), 50)
    whole = balance_table(table, p, BalanceConfig(50, seed=3)).column("status").to_pylist()
    parts = [table.slice(i, 2_000) for i in range(0, 8_000, 2_000)]
    split = [
        s
        for part in reversed(parts)
        for s in balance_table(part, p, BalanceConfig(50, seed=3)).column("status").to_pylist()
    ]
    assert split == [s for i in reversed(range(4)) for s in whole[i * 2000 : (i + 1) * 2000]]
    other_seed = balance_table(table, p, BalanceConfig(50, seed=4)).column("status").to_pylist()
    assert other_seed != whole


def test_statuses_never_repeat_a_pair():
    table = pool(2_000)
    out = balance_table(table, probabilities(entry_counts(table, 200), 20), BalanceConfig(20))
    assert out.num_rows == table.num_rows
    status = out.column("status").to_pylist()
    assert set(status) == {"no_match", "balanced_out", "selected"}
    for m, s in zip(table.column("matched").to_pylist(), status, strict=True):
        assert (s == "no_match") == (not m)
