"""Exact quantiles from merged counts equal np.quantile over all the values."""

import numpy as np
import pytest

from openwit.pipeline.shards import quantile as Q


def _over(parts):
    def count_parts(bucket):
        return sum(Q.counts(p, bucket) for p in parts)

    return count_parts


@pytest.mark.parametrize("seed", range(6))
def test_merged_counts_give_numpys_quantile(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 5000))
    values = np.concatenate(
        [
            rng.uniform(-1, 1, n).astype(np.float32),
            np.repeat(np.float32(rng.uniform(-1, 1)), 50),  # ties
            np.array([0.0, -0.0, 1e-30, -1e-30], np.float32),
        ]
    )
    parts = np.array_split(values, int(rng.integers(1, 9)))
    for percent in (100, 99.5, 50, 25, 10, 1, 0.01):
        q = 1 - percent / 100
        want = float(np.quantile(values.astype(np.float64), q))
        assert Q.quantile(_over(parts), q) == want, (n, percent)


def test_keys_keep_the_values_order_and_round_trip():
    v = np.array([-np.inf, -2.5, -1e-38, -0.0, 0.0, 1e-38, 0.3, 7.0, np.inf], np.float32)
    k = Q.keys(v)
    assert (np.diff(k.astype(np.int64)) >= 0).all()
    assert [Q.value(int(x)) for x in k] == [float(x) for x in v]


def test_no_values_no_quantile():
    assert Q.quantile(_over([np.zeros(0, np.float32)]), 0.5) is None
