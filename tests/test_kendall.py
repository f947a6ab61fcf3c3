"""The compiled Kendall tau-a against scipy (untied data) and a brute-force count (ties): the observed value,
the Mantel permutations and the weighted stimulus resamples."""

import numpy as np
import pytest
from scipy.spatial.distance import squareform
from scipy.stats import kendalltau

from psychoface.analyses import kendall


def _brute(a, b):
    """tau-a by definition: the mean over all pairs of entries of sign(a_p - a_q) sign(b_p - b_q)."""
    s = np.sign(a[:, None] - a[None, :]) * np.sign(b[:, None] - b[None, :])
    m = a.size
    return s[np.triu_indices(m, 1)].sum() / (m * (m - 1) / 2.0)


@pytest.mark.parametrize("m", [2, 3, 57, 5000])
def test_tau_a_equals_scipy_tau_b_without_ties(m):
    rng = np.random.default_rng(m)
    a = rng.standard_normal(m)
    b = a + 2 * rng.standard_normal(m)
    assert kendall.tau_a(a, b) == pytest.approx(kendalltau(a, b, variant="b").statistic, abs=1e-13)


@pytest.mark.parametrize("levels", [(2, 3), (4, 50), (200, 3)])
def test_tau_a_equals_brute_force_with_ties(levels):
    rng = np.random.default_rng(sum(levels))
    a = rng.integers(0, levels[0], 300).astype(float)
    b = (a + rng.integers(0, levels[1], 300)).astype(float)
    assert kendall.tau_a(a, b) == pytest.approx(_brute(a, b), abs=1e-13)
    assert kendall.tau_a(b, a) == pytest.approx(_brute(a, b), abs=1e-13)


def test_tau_a_of_a_constant_vector_is_undefined():
    assert np.isnan(kendall.tau_a(np.ones(10), np.arange(10.0)))
    assert np.isnan(kendall.tau_a(np.arange(10.0), np.full(10, 2.0)))
    assert np.isnan(kendall.tau_a(np.ones(1), np.ones(1)))


@pytest.mark.parametrize("tied", [False, True])
def test_permutation_null_equals_brute_force_on_permuted_matrices(tied):
    n = 13
    rng = np.random.default_rng(7)
    x = rng.integers(0, 5, n * (n - 1) // 2).astype(float) if tied else rng.standard_normal(n * (n - 1) // 2)
    f = rng.integers(0, 4, x.size).astype(float)
    null = kendall.permutation_null(x, kendall.TauFixed(f, n), np.random.default_rng(3), 700)  # 2 batches
    ref_rng = np.random.default_rng(3)
    sq = squareform(x)
    for k in range(700):
        p = ref_rng.permutation(n)
        if k % 50 == 0 or k == 699:
            assert null[k] == pytest.approx(_brute(squareform(sq[np.ix_(p, p)], checks=False), f), abs=1e-13)


@pytest.mark.parametrize("tied", [False, True])
def test_bootstrap_equals_brute_force_on_explicit_resamples(tied):
    n = 12
    rng = np.random.default_rng(11)
    m = n * (n - 1) // 2
    x = rng.integers(0, 6, m).astype(float) if tied else rng.standard_normal(m)
    f = rng.integers(0, 3, m).astype(float) if tied else x + rng.standard_normal(m)
    counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(40)])
    counts[0] = 0
    counts[0, :2] = [6, 6]  # one pair drawn 36 times: both vectors constant, undefined
    fixed = kendall.TauFixed(f, n)
    got = kendall.bootstrap(kendall.ranked(x, fixed), fixed, counts)
    i, j = kendall.pair_indices(n)
    for b, c in enumerate(counts):
        w = c[i] * c[j]  # the explicitly resampled vectors: each pair repeated c_i c_j times
        xr, fr = np.repeat(x, w), np.repeat(f, w)
        if np.ptp(xr) == 0 or np.ptp(fr) == 0:
            assert np.isnan(got[b])
        else:
            assert got[b] == pytest.approx(_brute(xr, fr), abs=1e-13)
    assert np.isnan(got[0])
