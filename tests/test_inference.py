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
