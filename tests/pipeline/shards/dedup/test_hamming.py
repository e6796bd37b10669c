import numpy as np
import pytest

from openwit.pipeline.shards.dedup.hamming import HammingIndex, brute_force_pairs, near_pairs


def planted(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2)
    near = base[: n // 5].copy()
    for i in range(len(near)):  # copies at every distance 0..12
        for bit in rng.choice(64, i % 13, replace=False):
            near[i] ^= np.uint64(1) << np.uint64(int(bit))
    return np.concatenate([base, near])


@pytest.mark.parametrize("bands", [3, 4])
def test_index_finds_exactly_the_brute_force_pairs(bands):
    h = planted(1500)
    for k in (0, 4, 8, 10, 12):
        got = {tuple(p) for p in near_pairs(h, k, bands).tolist()}
        want = {tuple(p) for p in brute_force_pairs(h, k).tolist()}
        assert got == want, k
        assert len(want) >= 300 // 13 * (k + 1)  # the planted copies are there to be found


def test_search_of_one_set_by_another():
    a, b = planted(300, 1), planted(200, 2)
    b[:50] = a[:50] ^ np.uint64(0b1011)  # 3 bits apart
    got = {tuple(p) for p in HammingIndex(b).search(a, 3).tolist()}
    want = {
        (i, j)
        for i in range(len(a))
        for j in range(len(b))
        if int(np.bitwise_count(a[i] ^ b[j])) <= 3
    }
    assert got == want and {(i, i) for i in range(50)} <= got


def test_empty_and_single():
    assert near_pairs(np.zeros(0, np.uint64), 8).shape == (0, 2)
    assert near_pairs(np.array([5], np.uint64), 8).shape == (0, 2)


def test_two_32_bit_bands_find_what_their_radius_promises():
    # Two 32-bit bands probed within 2 bits: every pair within 5 bits, and a pair within 8
    # exactly when one half differs by at most 2 bits.
    h = planted(1500, 3)
    got = {tuple(p) for p in near_pairs_with(h, 8, bands=2, radius=2).tolist()}
    low, high = np.uint64(0xFFFFFFFF), np.uint64(32)
    want = set()
    for i, j in brute_force_pairs(h, 8).tolist():
        x = h[i] ^ h[j]
        if min(np.bitwise_count(x & low), np.bitwise_count(x >> high)) <= 2:
            want.add((i, j))
    assert got == want
    assert {tuple(p) for p in brute_force_pairs(h, 5).tolist()} <= got
    assert len(want) < len(brute_force_pairs(h, 8))  # some 6-8 bit pairs are out of reach


def near_pairs_with(codes, max_distance, bands, radius):
    pairs = HammingIndex(codes, bands).search(codes, max_distance, radius)
    return pairs[pairs[:, 0] < pairs[:, 1]]
