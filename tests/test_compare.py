"""Dependent overlapping correlations: Williams' t and Steiger's Z against published worked examples,
the paired bootstrap against a plain loop, bad input, and (slow) type I error by simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from psychoface.analyses import compare as cmp
from psychoface.analyses.compare import compare_correlations, steiger_z, williams_test
from psychoface.errors import PsychofaceError

# ---------------------------------------------------------------------------------------------
# published values


def test_williams_matches_depcor_example():
    # Silver, Hittner & May (2006), DEPCOR, Applied Psychological Measurement 30, 152-153:
    # r_jk = .3, r_jh = .4, r_kh = .5, n = 100 -> t(97) = -1.0767, p = .2843 (also cocor's test suite)
    res = williams_test(0.3, 0.4, 0.5, 100)
    assert list(res.columns) == ["r1", "r2", "r12", "n", "t", "df", "p"]
    assert round(res.loc[0, "t"], 4) == -1.0767
    assert round(res.loc[0, "p"], 4) == 0.2843
    assert res.loc[0, "df"] == 97 and res.loc[0, "n"] == 100


def test_steiger_matches_published_examples():
    # Steiger (1980), Psychological Bulletin 87, p. 249, case A: r_jk = .4, r_jh = .5, r_kh = .1,
    # n = 103. The paper reports Z = -.8913 from a rounded covariance (.0042); computed exactly the
    # statistic is -0.8887185 (Diedenhofen & Musch, 2015, cocor's test suite).
    res = steiger_z(0.4, 0.5, 0.1, 103)
    assert list(res.columns) == ["r1", "r2", "r12", "n", "z", "p"]
    assert round(res.loc[0, "z"], 7) == -0.8887185
    assert res.loc[0, "z"] == pytest.approx(-0.8913, abs=0.003)
    # DEPCOR (Silver, Hittner & May, 2006): .3, .4, .5, n = 100 -> Z = -1.0718, p = .2838
    res = steiger_z(0.3, 0.4, 0.5, 100)
    assert round(res.loc[0, "z"], 4) == -1.0718
    assert round(res.loc[0, "p"], 4) == 0.2838


def test_williams_and_steiger_basic_properties():
    assert williams_test(0.5, 0.5, 0.3, 50).loc[0, "p"] == pytest.approx(1.0)
    assert steiger_z(0.5, 0.5, 0.3, 50).loc[0, "z"] == 0
    # swapping the two correlations flips the sign only
    t_ab = williams_test(0.6, 0.2, 0.4, 80).loc[0, "t"]
    assert t_ab == pytest.approx(-williams_test(0.2, 0.6, 0.4, 80).loc[0, "t"])
    # large n: Williams' t and Steiger's Z converge
    t = williams_test(0.35, 0.30, 0.6, 100_000).loc[0, "t"]
    z = steiger_z(0.35, 0.30, 0.6, 100_000).loc[0, "z"]
    assert t == pytest.approx(z, rel=0.01)


def test_array_input_gives_one_row_per_test():
    r1 = np.array([0.3, 0.4, 0.6])
    res = williams_test(r1, 0.4, 0.5, [100, 103, 60])
    assert len(res) == 3
    for i in range(3):
        one = williams_test(r1[i], 0.4, 0.5, [100, 103, 60][i])
        assert res.loc[i, "t"] == one.loc[0, "t"] and res.loc[i, "p"] == one.loc[0, "p"]
    assert len(steiger_z(r1, 0.4, 0.5, 100)) == 3


@pytest.mark.parametrize("args, message", [
    ((1.2, 0.4, 0.5, 100), r"r_jk = 1.2 is not a correlation"),
    ((0.3, np.nan, 0.5, 100), r"r_jh = nan is not a correlation"),
    ((0.3, 0.4, 1.0, 100), r"r_kh = \+-1: the two predictors are perfectly correlated"),
    ((0.3, 0.4, 0.5, 3), r"n = 3 must be a whole number >= 4"),
    ((0.3, 0.4, 0.5, 50.5), r"n = 50.5 must be a whole number"),
    ((0.9, -0.9, 0.9, 50), r"cannot come from one data set"),
])
def test_bad_correlations_are_refused(args, message):
    with pytest.raises(PsychofaceError, match=message):
        williams_test(*args)
    with pytest.raises(PsychofaceError, match=message):
        steiger_z(*args)


def test_steiger_refuses_unit_correlation():
    with pytest.raises(PsychofaceError, match="Fisher's z is infinite"):
        steiger_z(1.0, 0.4, 0.4, 50)


# ---------------------------------------------------------------------------------------------
# compare_correlations


def three_variables(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    a = 0.6 * y + rng.normal(size=n)
    b = 0.3 * y + 0.5 * a + rng.normal(size=n)
    return y, a, b


def loop_bootstrap(y, a, b, n_bootstrap, seed, level=0.95):
    """Reference: resample stimuli with the documented draws, correlate with numpy, one at a time."""
    rng = np.random.default_rng(seed)
    n = y.size
    diffs = []
    for _ in range(n_bootstrap):
        idx = np.floor(rng.random(n) * n).astype(int)
        c = np.corrcoef(np.vstack([y[idx], a[idx], b[idx]]))
        diffs.append(c[0, 1] - c[0, 2])
    diffs = np.array(diffs)
    low, high = np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2])
    tail = min((diffs <= 0).sum(), (diffs >= 0).sum())
    return low, high, min(1.0, 2 * (tail + 1) / (n_bootstrap + 1))


def test_compare_correlations_against_scipy_and_loop_reference():
    y, a, b = three_variables()
    res = compare_correlations(y, a, b, n_bootstrap=400, seed=3, labels=("conv5", "fc7"))
    row = res.iloc[0]
    assert (row["a"], row["b"], row["n"]) == ("conv5", "fc7", 60)
    assert row["r_a"] == pytest.approx(stats.pearsonr(y, a)[0], rel=1e-12)
    assert row["r_b"] == pytest.approx(stats.pearsonr(y, b)[0], rel=1e-12)
    assert row["r_ab"] == pytest.approx(stats.pearsonr(a, b)[0], rel=1e-12)
    assert row["difference"] == pytest.approx(row["r_a"] - row["r_b"])
    w = williams_test(row["r_a"], row["r_b"], row["r_ab"], 60).iloc[0]
    s = steiger_z(row["r_a"], row["r_b"], row["r_ab"], 60).iloc[0]
    assert (row["t"], row["df"], row["p"]) == (w["t"], w["df"], w["p"])
    assert (row["z"], row["p_steiger"]) == (s["z"], s["p"])
    low, high, p_boot = loop_bootstrap(y, a, b, 400, seed=3)
    assert row["ci_low"] == pytest.approx(low, rel=1e-9)
    assert row["ci_high"] == pytest.approx(high, rel=1e-9)
    assert row["p_bootstrap"] == pytest.approx(p_boot)
    meta = res.attrs["psychoface"]
    assert meta["seed"] == 3 and meta["n_bootstrap"] == 400 and meta["ci_level"] == 0.95
    assert meta["ci_method"] == "paired percentile bootstrap over stimuli"
    assert meta["p_method"].startswith("Williams") and meta["n_excluded"] == 0
    # the report must say that the closed-form tests are approximate here and the bootstrap is primary
    for key in ("p_method", "p_steiger_method"):
        assert "approximate for out-of-fold predictions" in meta[key]
    assert meta["primary_test"].startswith("paired bootstrap")
    assert "not strictly independent" in meta["assumptions"]
    assert "primary test" in meta["assumptions"]


def test_bootstrap_blocks_do_not_change_results(monkeypatch):
    y, a, b = three_variables(n=30, seed=5)
    full = compare_correlations(y, a, b, n_bootstrap=100, seed=1)
    monkeypatch.setattr(cmp, "_BLOCK_ELEMENTS", 64)
    blocked = compare_correlations(y, a, b, n_bootstrap=100, seed=1)
    np.testing.assert_allclose(blocked[["ci_low", "ci_high", "p_bootstrap"]].to_numpy(float),
                               full[["ci_low", "ci_high", "p_bootstrap"]].to_numpy(float), rtol=1e-12)


def test_missing_values_are_excluded_and_counted():
    y, a, b = three_variables()
    y2, b2 = y.copy(), b.copy()
    y2[[0, 5]] = np.nan
    b2[9] = np.nan
    res = compare_correlations(pd.Series(y2), a, b2, n_bootstrap=50)
    keep = np.ones(60, bool)
    keep[[0, 5, 9]] = False
    assert res.loc[0, "n"] == 57 and res.attrs["psychoface"]["n_excluded"] == 3
    assert res.loc[0, "r_a"] == pytest.approx(np.corrcoef(y[keep], a[keep])[0, 1])


def test_compare_correlations_bad_input():
    y, a, b = three_variables()
    with pytest.raises(PsychofaceError, match=r"have 60, 59 and 60 values"):
        compare_correlations(y, a[:-1], b)
    with pytest.raises(PsychofaceError, match=r"B is constant"):
        compare_correlations(y, a, np.ones(60))
    with pytest.raises(PsychofaceError, match=r"only 3 stimuli"):
        compare_correlations(y[:3], a[:3], b[:3])
    with pytest.raises(PsychofaceError, match=r"A has an infinite value at position 2"):
        compare_correlations(y, np.where(np.arange(60) == 2, np.inf, a), b)
    with pytest.raises(PsychofaceError, match=r"must be one value per stimulus"):
        compare_correlations(y, np.column_stack([a, a]), b)
    with pytest.raises(PsychofaceError, match=r"perfectly correlated"):
        compare_correlations(y, a, 2 * a + 1)
    with pytest.raises(PsychofaceError, match=r"y must be numbers, one per stimulus"):
        compare_correlations(["x"] * 60, a, b)
    with pytest.raises(PsychofaceError, match=r"labels"):
        compare_correlations(y, a, b, labels="AB")
    with pytest.raises(PsychofaceError, match=r"n_bootstrap = 0"):
        compare_correlations(y, a, b, n_bootstrap=0)


# ---------------------------------------------------------------------------------------------
# simulation


def _sample_correlations(rng, cov, n, reps):
    x = rng.multivariate_normal(np.zeros(3), cov, size=(reps, n))
    x = x - x.mean(axis=1, keepdims=True)
    c = np.einsum("rni,rnj->rij", x, x)
    d = np.sqrt(np.einsum("rii->ri", c))
    r = c / d[:, :, None] / d[:, None, :]
    return r[:, 0, 1], r[:, 0, 2], r[:, 1, 2]


@pytest.mark.slow
@pytest.mark.parametrize("n", [20, 100])
def test_williams_and_steiger_type_one_error(n):
    """H0 true (rho_jk = rho_jh = .4, rho_kh = .5): rejection rate at alpha = .05 over 20,000 samples."""
    rng = np.random.default_rng(100 + n)
    cov = np.array([[1.0, 0.4, 0.4], [0.4, 1.0, 0.5], [0.4, 0.5, 1.0]])
    r_jk, r_jh, r_kh = _sample_correlations(rng, cov, n, 20_000)
    rate_t = (williams_test(r_jk, r_jh, r_kh, n)["p"] < 0.05).mean()
    rate_z = (steiger_z(r_jk, r_jh, r_kh, n)["p"] < 0.05).mean()
    # Monte-Carlo SE of a .05 rate over 20,000 samples is .0015
    assert abs(rate_t - 0.05) < 0.006, rate_t
    assert abs(rate_z - 0.05) < 0.006, rate_z


@pytest.mark.slow
def test_paired_bootstrap_type_one_error_and_coverage():
    """300 samples of n = 100 under H0: bootstrap p rejects near 5%; the CI covers the true 0."""
    rng = np.random.default_rng(7)
    cov = np.array([[1.0, 0.4, 0.4], [0.4, 1.0, 0.5], [0.4, 0.5, 1.0]])
    rejections, covered = [], []
    for rep in range(300):
        x = rng.multivariate_normal(np.zeros(3), cov, size=100)
        res = compare_correlations(x[:, 0], x[:, 1], x[:, 2], n_bootstrap=999, seed=rep).iloc[0]
        rejections.append(res["p_bootstrap"] < 0.05)
        covered.append(res["ci_low"] <= 0 <= res["ci_high"])
    # Monte-Carlo SE about .013 for the rate
    assert 0.02 <= np.mean(rejections) <= 0.09, np.mean(rejections)
    assert 0.91 <= np.mean(covered) <= 0.98, np.mean(covered)
