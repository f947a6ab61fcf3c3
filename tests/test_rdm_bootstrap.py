"""The compiled stimulus-bootstrap RDM correlations against scipy on the explicitly resampled vectors."""

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from psychoface.analyses import rdm_bootstrap
from psychoface.analyses.kendall import pair_indices


def _counts(n, k, seed):
    rng = np.random.default_rng(seed)
    counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(k)])
    counts[0] = 0
    counts[0, :2] = [5, 4]  # one pair drawn 20 times: both vectors constant, undefined
    return counts


def _explicit(x, y, n, counts, stat):
    i, j = pair_indices(n)
    out = []
    for c in counts:
        w = c[i] * c[j]
        xr, yr = np.repeat(x, w), np.repeat(y, w)
        out.append(np.nan if np.ptp(xr) == 0 or np.ptp(yr) == 0 else stat(xr, yr)[0])
    return np.array(out)


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("work_bytes", [2**30, 8 * 40])  # blocks of 16 resamples, and of 1 or 2
def test_spearman_equals_scipy_on_explicit_resamples(tied, work_bytes, monkeypatch):
    monkeypatch.setattr(rdm_bootstrap, "WORK_BYTES", work_bytes)
    n = 16
    m = n * (n - 1) // 2
    rng = np.random.default_rng(4)
    x = rng.integers(0, 7, m).astype(float) if tied else rng.standard_normal(m)
    y = (x + rng.integers(0, 5, m)) if tied else x + 2 * rng.standard_normal(m)
    counts = _counts(n, 53, 1)
    got = rdm_bootstrap.spearman(rdm_bootstrap.Prepared(x, n), rdm_bootstrap.Prepared(y, n), counts)
    ref = _explicit(x, y, n, counts, spearmanr)
    assert np.isnan(got[0]) and np.isnan(ref[0])
    np.testing.assert_allclose(got, ref, atol=1e-12)


def test_pearson_equals_scipy_on_explicit_resamples():
    n = 15
    m = n * (n - 1) // 2
    rng = np.random.default_rng(8)
    x = rng.standard_normal(m)
    y = x + rng.standard_normal(m)
    z = [(v - v.mean()) / np.linalg.norm(v - v.mean()) for v in (x, y)]
    counts = _counts(n, 40, 2)
    got = rdm_bootstrap.pearson(z[0], z[1], n, counts)
    ref = _explicit(x, y, n, counts, pearsonr)
    assert np.isnan(got[0]) and np.isnan(ref[0])
    np.testing.assert_allclose(got, ref, atol=1e-12)
