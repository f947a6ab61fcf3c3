"""Shared inferential helpers against independent references."""

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from psychoface.analyses.inference import correct_p, percentile_ci, permutation_p, spearman_brown
from psychoface.errors import PsychofaceError


def test_holm_and_bh_match_statsmodels_and_skip_nan():
    p = np.array([0.01, np.nan, 0.04, 0.03, 0.2])
    ok = ~np.isnan(p)
    for method in ("holm", "fdr_bh"):
        got = correct_p(p, method)
        assert np.isnan(got[1])
        np.testing.assert_allclose(got[ok], multipletests(p[ok], method=method)[1])


def test_bonferroni_capped_at_one():
    assert correct_p([0.5, 0.9], "bonferroni").tolist() == [1.0, 1.0]


def test_unknown_correction_is_an_error():
    with pytest.raises(PsychofaceError, match="unknown correction"):
        correct_p([0.1], "sidak-ish")


def test_permutation_p_counts_by_loop():
    rng = np.random.default_rng(1)
    null = rng.normal(size=(999, 3))
    obs = np.array([0.5, -2.0, 3.5])
    expected_two = [(np.sum(np.abs(null[:, j]) >= abs(obs[j])) + 1) / 1000 for j in range(3)]
    expected_greater = [(np.sum(null[:, j] >= obs[j]) + 1) / 1000 for j in range(3)]
    np.testing.assert_allclose(permutation_p(obs, null), expected_two)
    np.testing.assert_allclose(permutation_p(obs, null, "greater"), expected_greater)
    assert permutation_p(100.0, null[:, 0]) == pytest.approx(1 / 1000)  # never zero


def test_percentile_ci_matches_numpy():
    boot = np.random.default_rng(2).normal(size=(5000, 2))
    low, high = percentile_ci(boot, 0.9)
    np.testing.assert_allclose(low, np.percentile(boot, 5, axis=0))
    np.testing.assert_allclose(high, np.percentile(boot, 95, axis=0))


def test_spearman_brown_known_values():
    assert spearman_brown(0.5) == pytest.approx(2 / 3)
    assert spearman_brown(0.5, factor=3) == pytest.approx(0.75)
    assert spearman_brown(1.0) == pytest.approx(1.0)


# Benjamini & Hochberg (1995, J. R. Statist. Soc. B, 57, 289-300, sec. 4): the 15 p-values of
# Neuhaus et al. (1992), listed here in a scrambled order. Published decisions at level .05: the FDR
# procedure rejects the four smallest, the Bonferroni-type procedures three. The adjusted values below
# are worked by hand from the definitions (sorted p_(i), m = 15):
#   BH   p~_(i) = min_{j >= i} m p_(j) / j        e.g. p~_(4) = 15 * .0095 / 4 = .035625,
#        p~_(6) = min(15 * .0278 / 6, 15 * .0298 / 7, ...) = .0298 * 15 / 7 = .0638571...
#   Holm p~_(i) = max_{j <= i} (m - j + 1) p_(j)  e.g. p~_(3) = 13 * .0019 = .0247,
#        p~_(7) = max(.278, 9 * .0298 = .2682) = .278; values above 1 are set to 1.
BH95_P = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262,
          0.5719, 0.6528, 0.7590, 1.0000]
BH95_BH = [0.0015, 0.003, 0.0095, 0.035625, 0.0603, 0.0298 * 15 / 7, 0.0298 * 15 / 7, 0.0645, 0.0765,
           0.486, 0.4262 * 15 / 11, 0.714875, 0.6528 * 15 / 13, 0.759 * 15 / 14, 1.0]
BH95_HOLM = [0.0015, 0.0056, 0.0247, 0.114, 0.2211, 0.278, 0.278, 0.278, 0.3213] + [1.0] * 6


@pytest.mark.parametrize("method, expected, rejected", [("fdr_bh", BH95_BH, 4), ("holm", BH95_HOLM, 3)])
def test_corrections_reproduce_the_benjamini_hochberg_1995_example(method, expected, rejected):
    order = np.random.default_rng(0).permutation(15)  # input order must not matter
    got = correct_p(np.array(BH95_P)[order], method)
    np.testing.assert_allclose(got, np.array(expected)[order], rtol=1e-12, atol=1e-15)
    assert (got <= 0.05).sum() == rejected


def test_holm_small_worked_example():
    # four tests, alpha .05: sorted .005, .01, .03, .04 -> 4 * .005 = .02, 3 * .01 = .03, 2 * .03 = .06,
    # max(.06, 1 * .04) = .06: H1 and H4 rejected, H2 and H3 not (Holm, 1979, step-down Bonferroni)
    np.testing.assert_allclose(correct_p([0.01, 0.04, 0.03, 0.005], "holm"), [0.03, 0.06, 0.06, 0.02])
