"""The difference of two rater groups' split-half reliabilities (``reliability --by``): equal to a plain
scipy/numpy computation on a design whose rater split is unique, and, in simulation, the paired bootstrap's
type I error and CI coverage."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from psychoface.analyses.reliability_groups import compare_reliability_groups
from psychoface.errors import PsychofaceError


def _ratings(rng, truth, k, noise_sd, prefix, attribute="trust"):
    n = truth.size
    values = truth[None] + rng.standard_normal((k, n)) * noise_sd
    return pd.DataFrame({"stimulus": np.tile([f"s{i}" for i in range(n)], k), "attribute": attribute,
                         "rating": values.ravel(), "rater": np.repeat([f"{prefix}{j}" for j in range(k)], n)})


def test_two_raters_per_group_equals_spearman_brown_of_pearson_and_a_plain_bootstrap_loop():
    rng = np.random.default_rng(1)
    truth = rng.standard_normal(30)
    ga, gb = _ratings(rng, truth, 2, 0.7, "a"), _ratings(rng, truth, 2, 1.2, "b")
    df = compare_reliability_groups({"women": ga, "men": gb}, n_splits=5, n_bootstrap=300, bootstrap_splits=5,
                                    seed=7)
    row = df.iloc[0]
    assert (row["a"], row["b"], row["n"], row["split_a"], row["split_b"]) == ("women", "men", 30, "raters", "raters")

    def sb(frame):
        wide = frame.pivot(index="stimulus", columns="rater", values="rating")
        r = stats.pearsonr(wide.iloc[:, 0], wide.iloc[:, 1]).statistic
        return 2 * r / (1 + r), wide

    (rel_a, wa), (rel_b, wb) = sb(ga), sb(gb)
    assert row["reliability_a"] == pytest.approx(rel_a) and row["reliability_b"] == pytest.approx(rel_b)
    assert row["reliability_difference"] == pytest.approx(rel_a - rel_b)
    # the plain loop: after the rater splits (one draw of 2 keys per split and group), one rng.random(n) per
    # resample picks the stimuli, the same for both groups (stimuli in order of first appearance: s0..s29)
    order = [f"s{i}" for i in range(30)]
    wa, wb = wa.loc[order].to_numpy(), wb.loc[order].to_numpy()
    gen = np.random.default_rng([7, zlib.crc32(b"trust"), 1])
    gen.random((2 * 5, 2))
    diffs = []
    for _ in range(300):
        idx = (gen.random(30) * 30).astype(int)
        rels = []
        for w in (wa, wb):
            r = np.corrcoef(w[idx, 0], w[idx, 1])[0, 1]
            rels.append(max(2 * max(r, 0) / (1 + max(r, 0)), 0))
        diffs.append(rels[0] - rels[1])
    diffs = np.array(diffs)
    assert row["ci_low"] == pytest.approx(np.quantile(diffs, 0.025))
    assert row["ci_high"] == pytest.approx(np.quantile(diffs, 0.975))
    p = min(1.0, 2 * (min((diffs <= 0).sum(), (diffs >= 0).sum()) + 1) / 301)
    assert row["p"] == pytest.approx(p)


def test_holm_across_attributes_and_stimuli_rated_by_both_groups():
    rng = np.random.default_rng(2)
    truth = rng.standard_normal(20)
    ga = pd.concat([_ratings(rng, truth, 6, 1.0, "a", att) for att in ("trust", "dom", "happy")])
    gb = pd.concat([_ratings(rng, truth, 6, 1.0, "b", att) for att in ("trust", "dom", "happy")])
    gb = gb[gb["stimulus"] != "s3"]  # group b never rated s3: it is left out of the comparison
    df = compare_reliability_groups({"f": ga, "m": gb}, n_splits=5, n_bootstrap=200, seed=0)
    assert df["attribute"].tolist() == ["trust", "dom", "happy"] and (df["n"] == 19).all()
    from statsmodels.stats.multitest import multipletests

    assert np.allclose(df["p_corr"], multipletests(df["p"], method="holm")[1])
    assert df.attrs["psychoface"]["family"] == "3 comparisons of rater groups"
    with pytest.raises(PsychofaceError, match="two or more groups"):
        compare_reliability_groups({"f": ga})


def test_methods_text_names_the_paired_bootstrap_the_fixed_splits_and_holm():
    from psychoface.reports.methods import methods_paragraph

    rng = np.random.default_rng(3)
    truth = rng.standard_normal(20)
    df = compare_reliability_groups({"female": _ratings(rng, truth, 4, 1, "a"), "male": _ratings(rng, truth, 4, 1, "b")},
                                    n_splits=5, n_bootstrap=100, seed=0)
    attrs = dict(df.attrs["psychoface"], by=["rater_sex"])
    text = " ".join(methods_paragraph({"analyses": [attrs]}).plain.split())
    assert "The split-half reliabilities of each two values of rater_sex were compared" in text
    assert "paired bootstrap over stimuli (Efron & Tibshirani, 1993)" in text
    assert "held fixed" in text and "first 5 splits" in text and "Holm-corrected" in text


def _simulate(n_reps, noise_b):
    rng = np.random.default_rng(11)
    rejected, covered = 0, 0
    k, n = 6, 40
    truth_diff = 1 / (1 + 1.0 / k) - 1 / (1 + noise_b**2 / k)  # reliability of a mean of k raters, var(true) = 1
    for rep in range(n_reps):
        truth = rng.standard_normal(n)
        df = compare_reliability_groups({"a": _ratings(rng, truth, k, 1.0, "a"), "b": _ratings(rng, truth, k, noise_b, "b")},
                                        n_splits=5, bootstrap_splits=5, n_bootstrap=200, seed=rep)
        row = df.iloc[0]
        rejected += row["p"] < 0.05
        covered += row["ci_low"] <= truth_diff <= row["ci_high"]
    return rejected / n_reps, covered / n_reps


@pytest.mark.slow
def test_simulation_type_i_error_and_coverage():
    """200 simulated studies each (40 stimuli, 6 raters per group). Measured (seeded, so reproducible): equal
    reliabilities (.857 both): rejection rate .080, coverage .910; reliabilities .857 and .600: power .905,
    coverage .895. The percentile interval is somewhat liberal (module docstring, COVERAGE_NOTE): the bounds
    below are the documented level (90% coverage, 8% type I error) with a tolerance of 2 binomial SE, so that a
    change making it worse fails."""
    n_reps = 200
    rate, coverage = _simulate(n_reps, 1.0)
    print(f"equal reliabilities: rejection rate {rate:.3f}, coverage {coverage:.3f}")
    assert rate <= 0.08 + 2 * np.sqrt(0.08 * 0.92 / n_reps), rate
    assert coverage >= 0.90 - 2 * np.sqrt(0.90 * 0.10 / n_reps), coverage
    power, coverage = _simulate(n_reps, 2.0)
    print(f"difference .257: power {power:.3f}, coverage {coverage:.3f}")
    assert coverage >= 0.90 - 2 * np.sqrt(0.90 * 0.10 / n_reps), coverage
    assert power >= 0.8, power
