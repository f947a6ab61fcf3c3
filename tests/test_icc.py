"""ICC in nested and incomplete designs: blocks of the stimulus x rater design, pingouin on each complete
block, variance components (statsmodels MixedLM) equal to ANOVA on a complete balanced design, and (slow)
recovery and CI coverage of a known ICC in a simulated nested, incomplete design."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin
import pytest

from psychoface.analyses.icc import design_blocks, icc, variance_components, vc_icc


def crossed(n_stimuli, n_raters, *, sd_s=1.0, sd_r=0.6, sd_e=1.0, seed=0, prefix="", attribute="trust"):
    rng = np.random.default_rng(seed)
    s = rng.normal(0, sd_s, n_stimuli)
    r = rng.normal(0, sd_r, n_raters)
    rows = [(f"{prefix}s{i}", attribute, f"{prefix}r{j}", 4 + s[i] + r[j] + rng.normal(0, sd_e))
            for i in range(n_stimuli) for j in range(n_raters)]
    return pd.DataFrame(rows, columns=["stimulus", "attribute", "rater", "rating"])


def nested(n_blocks, n_stimuli, n_raters, keep, *, seed, sd_s=1.0, sd_r=0.6, sd_e=1.0):
    """Raters nested in blocks of stimuli; within a block each rating kept with probability ``keep``."""
    rng = np.random.default_rng(seed)
    parts = []
    for b in range(n_blocks):
        block = crossed(n_stimuli, n_raters, sd_s=sd_s, sd_r=sd_r, sd_e=sd_e, seed=int(rng.integers(1 << 30)),
                        prefix=f"b{b}")
        parts.append(block[rng.random(len(block)) < keep])
    return pd.concat(parts, ignore_index=True)


def _pingouin(block):
    ref = pingouin.intraclass_corr(data=block, targets="stimulus", raters="rater", ratings="rating")
    return ref.set_index("Type")


def test_design_blocks_finds_raters_nested_in_stimulus_sets():
    data = pd.concat([crossed(6, 3, prefix="w"), crossed(4, 2, prefix="m")])
    blocks = design_blocks(data[["stimulus", "rater"]])
    assert [(len(s), len(r)) for s, r in blocks] == [(6, 3), (4, 2)]
    assert set(blocks[1][0]) == {"ms0", "ms1", "ms2", "ms3"} and set(blocks[1][1]) == {"mr0", "mr1"}


def test_each_complete_block_equals_pingouin_on_that_block():
    women, men = crossed(12, 5, seed=1, prefix="w"), crossed(10, 4, seed=2, prefix="m")
    res = icc(pd.concat([women, men], ignore_index=True))
    assert list(res["block"].unique()) == [1, 2]
    for b, block in ((1, women), (2, men)):
        got = res[res["block"] == b].set_index("type_mw")
        ref = _pingouin(block)
        np.testing.assert_allclose(got["icc"], ref.loc[got.index, "ICC"], rtol=1e-12)
        np.testing.assert_allclose(got["F"], ref.loc[got.index, "F"], rtol=1e-12)
        assert (got["design"] == "complete").all() and (got["n"] == block.stimulus.nunique()).all()
        assert (got["k"] == block.rater.nunique()).all() and (got["ratings"] == len(block)).all()
        assert (got["stimuli_dropped"] == 0).all() and got["method"].str.contains("pingouin").all()
    assert res.attrs["psychoface"]["design"] == "raters nested in blocks of stimuli"


def test_variance_components_equal_anova_on_a_complete_balanced_design():
    data = crossed(25, 6, seed=3)
    comp = variance_components(data["stimulus"], data["rater"], data["rating"])
    got = vc_icc(comp, 6.0, 0.95)
    ref = _pingouin(data)
    names = {"ICC1": "ICC(1,1)", "ICC2": "ICC(A,1)", "ICC3": "ICC(C,1)", "ICC1k": "ICC(1,k)",
             "ICC2k": "ICC(A,k)", "ICC3k": "ICC(C,k)"}
    for form, mw in names.items():
        assert got[form][0] == pytest.approx(ref.loc[mw, "ICC"], abs=2e-5), form
        assert got[form][1] < got[form][0] < got[form][2]
    # the Wald interval on the logit scale is close to the exact F interval of a balanced design
    low, high = ref.loc["ICC(C,1)", "CI95"] if "CI95" in ref.columns else ref.loc["ICC(C,1)", "CI95%"]
    assert got["ICC3"][1] == pytest.approx(low, abs=0.06) and got["ICC3"][2] == pytest.approx(high, abs=0.06)


def test_incomplete_block_keeps_every_rating_and_says_how():
    full = crossed(20, 6, seed=4)
    rng = np.random.default_rng(0)
    data = full[rng.random(len(full)) < 0.7]
    tiny = pd.DataFrame({"stimulus": ["x1", "x2"], "attribute": "trust", "rater": ["q", "q"], "rating": [1.0, 2.0]})
    res = icc(pd.concat([data, tiny], ignore_index=True), forms=["ICC2", "ICC3", "ICC3k"])
    assert len(res) == 3 and (res["design"] == "incomplete").all() and (res["ratings"] == len(data)).all()
    assert (res["n"] == 20).all() and (res["k"] == 6).all()
    assert (res["stimuli_dropped"] == 2).all() and (res["raters_dropped"] == 1).all()
    per = data.groupby("stimulus").size()
    assert res.loc[0, "k_harmonic"] == pytest.approx(len(per) / (1 / per).sum())
    assert res["method"].str.contains("MixedLM").all() and res["p"].isna().all()
    assert ((res["ci_low"] < res["icc"]) & (res["icc"] < res["ci_high"])).all()


def _truth(sd_s, sd_r, sd_e):
    s, r, e = sd_s**2, sd_r**2, sd_e**2
    return {"ICC2": s / (s + r + e), "ICC3": s / (s + e)}


@pytest.mark.slow
def test_variance_component_icc_recovers_a_known_icc_in_a_nested_incomplete_design():
    """200 simulated studies: 2 blocks x 15 stimuli x 8 raters, 60% of ratings kept; true ICC(A,1) =
    1 / (1 + .36 + 1) = .424 and ICC(C,1) = .5. Measured (seeds 0-199): mean ICC(A,1) .418, 95% Wald CI
    coverage .968; mean ICC(C,1) .491, coverage .970 (400 intervals each: 2 blocks x 200 studies)."""
    truth = _truth(1.0, 0.6, 1.0)
    est, cover = {f: [] for f in truth}, {f: [] for f in truth}
    for rep in range(200):
        res = icc(nested(2, 15, 8, 0.6, seed=rep), forms=list(truth))
        for form in truth:
            rows = res[res["type"] == form]
            est[form] += list(rows["icc"])
            cover[form] += list((rows["ci_low"] <= truth[form]) & (truth[form] <= rows["ci_high"]))
    report = {f: (round(float(np.mean(est[f])), 3), round(float(np.mean(cover[f])), 3)) for f in truth}
    for form, value in truth.items():
        mean, coverage = report[form]
        assert abs(mean - value) < 0.03, report
        assert 0.90 <= coverage <= 0.98, report  # binomial SE of a .95 rate over 400 intervals: .011


# ------------------------------------------------------------------------------ split-half by rater halves


def test_split_half_splits_raters_when_it_can_and_ratings_otherwise():
    from psychoface.analyses.reliability import split_half_reliability

    data = nested(2, 15, 10, 1.0, seed=5)
    res = split_half_reliability(data, n_bootstrap=50, n_splits=20, seed=1)
    assert res.loc[0, "split"] == "raters" and res.loc[0, "n"] == 30 and res.loc[0, "note"] == ""
    assert res.attrs["psychoface"]["method"].startswith("split-half by raters")
    # a hand-made loop: the same rater halves within each block give the same mean split-half r
    rng = np.random.default_rng([1, __import__("zlib").crc32(b"trust")])
    codes, stimuli = pd.factorize(data["stimulus"], sort=False)
    raters = pd.factorize(data["rater"], sort=False)[1]
    block = np.array([int(r[1]) for r in raters])  # "b0r3" -> block 0
    rs = []
    for _ in range(20):
        key = rng.random(len(raters))
        half_a = set()
        for b in (0, 1):
            members = np.flatnonzero(block == b)
            half_a |= set(raters[members[np.argsort(key[members], kind="stable")][: len(members) // 2]])
        a = data[data.rater.isin(half_a)].groupby("stimulus")["rating"].mean().reindex(stimuli)
        b_ = data[~data.rater.isin(half_a)].groupby("stimulus")["rating"].mean().reindex(stimuli)
        rs.append(np.corrcoef(a, b_)[0, 1])
    assert res.loc[0, "r_half"] == pytest.approx(np.mean(rs), rel=1e-10)
    # each stimulus rated by two of three raters: any halving of the three leaves a stimulus with both of
    # its raters in one half
    pairs = [("a", "b"), ("b", "c"), ("a", "c")] * 4
    thin = pd.DataFrame([(f"s{i}", "trust", r, float(i % 5 + (r == "b"))) for i, pair in enumerate(pairs) for r in pair],
                        columns=["stimulus", "attribute", "rater", "rating"])
    few = split_half_reliability(thin, n_bootstrap=0, n_splits=5)
    assert few.loc[0, "split"] == "ratings" and "too few raters per stimulus" in few.loc[0, "note"]
    without = split_half_reliability(data.drop(columns="rater"), n_bootstrap=0, n_splits=5)
    assert without.loc[0, "split"] == "ratings"
