"""Split-half reliability, ICC and noise ceiling: equality with a plain loop implementation and with
pingouin, error handling, the real OMI ratings, and (slow) bootstrap CI coverage by simulation."""

from __future__ import annotations

import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pingouin
import pytest

from psychoface.analyses import reliability as rel
from psychoface.analyses.reliability import (
    icc,
    noise_ceiling,
    normalized_score,
    split_half_reliability,
)
from psychoface.errors import PsychofaceError

# pingouin's own pandas calls warn under pandas 3 when the tests call it directly as the reference
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword")

SHARED = Path(__file__).resolve().parents[2] / "shared"
OMI = SHARED / "data" / "omi" / "attribute_ratings.csv.gz"


def simulated_trials(n_stimuli=30, seed=1, attributes=("trust", "age"), k_range=(2, 9), shuffle=True):
    """Long ratings: stimulus true score + rating noise, varied numbers of ratings per stimulus."""
    rng = np.random.default_rng(seed)
    rows = []
    for att in attributes:
        true = rng.normal(50, 10, n_stimuli)
        for i in range(n_stimuli):
            k = int(rng.integers(k_range[0], k_range[1] + 1))
            for r in np.round(true[i] + rng.normal(0, 12, k)):
                rows.append((f"face_{i:03d}", att, float(r)))
    df = pd.DataFrame(rows, columns=["stimulus", "attribute", "rating"])
    if shuffle:
        df = df.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return df


def loop_split_half(trials, attribute, n_splits, n_bootstrap, bootstrap_splits, seed, min_ratings=2,
                    level=0.95):
    """Reference: the documented procedure written as plain loops, one stimulus and split at a time."""
    sub = trials[trials["attribute"] == attribute]
    stim = sub["stimulus"].astype(str).to_numpy()
    ratings = sub["rating"].to_numpy(float)
    ids = list(dict.fromkeys(stim))
    kept = [s for s in ids if (stim == s).sum() >= min_ratings]
    mask = np.isin(stim, kept)
    stim, ratings = stim[mask], ratings[mask]
    rng = np.random.default_rng([seed, zlib.crc32(attribute.encode("utf-8"))])
    n = len(kept)
    half_a, half_b = np.empty((n_splits, n)), np.empty((n_splits, n))
    for s in range(n_splits):
        key = rng.random(len(ratings))
        for i, sid in enumerate(kept):
            rows = np.flatnonzero(stim == sid)
            ordered = rows[np.argsort(key[rows])]
            h = len(rows) // 2
            half_a[s, i] = ratings[ordered[:h]].mean()
            half_b[s, i] = ratings[ordered[h:]].mean()
    r = np.array([np.corrcoef(half_a[s], half_b[s])[0, 1] for s in range(n_splits)])
    r_half = r.mean()
    boot = []
    for _ in range(n_bootstrap):
        idx = np.floor(rng.random(n) * n).astype(int)
        rb = np.array([np.corrcoef(half_a[s, idx], half_b[s, idx])[0, 1] for s in range(bootstrap_splits)])
        boot.append(rb.mean())
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    # documented estimator: Spearman-Brown of the mean r; CI = stepped-up percentile limits, floor 0
    return {"n": n, "r_half": r_half, "reliability": 2 * r_half / (1 + r_half),
            "ci_low": max(0.0, 2 * low / (1 + low)), "ci_high": max(0.0, 2 * high / (1 + high))}


# ---------------------------------------------------------------------------------------------
# split-half: reference equality


def test_split_half_equals_loop_reference():
    trials = simulated_trials(k_range=(5, 9))
    # one stimulus with a single rating of "trust": excluded and counted
    trials = pd.concat(
        [trials, pd.DataFrame({"stimulus": ["lonely"], "attribute": ["trust"], "rating": [40.0]})],
        ignore_index=True,
    )
    res = split_half_reliability(trials, n_splits=12, n_bootstrap=150, bootstrap_splits=5, seed=7)
    assert list(res["attribute"]) == ["trust", "age"]
    for _, row in res.iterrows():
        ref = loop_split_half(trials, row["attribute"], 12, 150, 5, seed=7)
        assert row["n"] == ref["n"] == 30
        for key in ("r_half", "reliability", "ci_low", "ci_high"):
            assert row[key] == pytest.approx(ref[key], rel=1e-10, abs=1e-12), key
        assert row["noise_ceiling"] == pytest.approx(np.sqrt(ref["reliability"]))
        assert row["note"] == ""
    trust = res.set_index("attribute").loc["trust"]
    assert trust["excluded_stimuli"] == 1
    counts = trials[(trials.attribute == "trust") & (trials.stimulus != "lonely")].groupby("stimulus").size()
    assert trust["ratings_min"] == counts.min() and trust["ratings_max"] == counts.max()
    assert trust["ratings_median"] == counts.median()


def test_split_half_blocks_do_not_change_results(monkeypatch):
    trials = simulated_trials(n_stimuli=20)
    full = split_half_reliability(trials, n_splits=9, n_bootstrap=40, bootstrap_splits=9, seed=3)
    monkeypatch.setattr(rel, "_BLOCK_ELEMENTS", 50)  # forces many blocks of splits and resamples
    blocked = split_half_reliability(trials, n_splits=9, n_bootstrap=40, bootstrap_splits=9, seed=3)
    cols = ["r_half", "reliability", "ci_low", "ci_high"]
    np.testing.assert_allclose(blocked[cols].to_numpy(), full[cols].to_numpy(), rtol=1e-12)


def test_attribute_result_does_not_depend_on_other_attributes():
    trials = simulated_trials()
    both = split_half_reliability(trials, n_splits=10, n_bootstrap=100, seed=5).set_index("attribute")
    alone = split_half_reliability(trials, attributes=["age"], n_splits=10, n_bootstrap=100, seed=5)
    assert alone.loc[0, "reliability"] == both.loc["age", "reliability"]
    assert alone.loc[0, "ci_high"] == both.loc["age", "ci_high"]
    other = split_half_reliability(trials, attributes="age", n_splits=10, n_bootstrap=100, seed=6)
    assert other.loc[0, "reliability"] != alone.loc[0, "reliability"]


def test_split_half_recovers_known_reliability():
    # 200 stimuli x 10 ratings, true-score variance 1, error variance 2.5: reliability of the mean
    # of 10 ratings = 1 / (1 + 2.5 / 10) = .8
    rng = np.random.default_rng(11)
    true = rng.normal(0, 1, 200)
    ratings = true[:, None] + rng.normal(0, np.sqrt(2.5), (200, 10))
    trials = pd.DataFrame({"stimulus": np.repeat(np.arange(200), 10), "attribute": "x",
                           "rating": ratings.ravel()})
    res = split_half_reliability(trials, n_splits=50, n_bootstrap=500, seed=0)
    assert res.loc[0, "reliability"] == pytest.approx(0.8, abs=0.04)
    assert res.loc[0, "ci_low"] < res.loc[0, "reliability"] < res.loc[0, "ci_high"]
    assert res.loc[0, "ratings_median"] == 10
    # stimulus ids are strings everywhere
    assert split_half_reliability(trials, n_splits=2, n_bootstrap=0).loc[0, "n"] == 200


def test_attrs_record_method_and_parameters():
    res = split_half_reliability(simulated_trials(), n_splits=5, n_bootstrap=20, ci_level=0.9, seed=4)
    meta = res.attrs["psychoface"]
    assert meta["analysis"] == "split_half_reliability"
    assert meta["seed"] == 4 and meta["n_splits"] == 5 and meta["n_bootstrap"] == 20
    assert meta["ci_level"] == 0.9 and meta["ci_method"] == "percentile bootstrap over stimuli"
    assert meta["bootstrap_splits"] == 5
    assert "Spearman-Brown" in meta["method"]
    for key in ("p_method", "correction", "family"):
        assert key in meta


def test_no_bootstrap_gives_no_interval_and_says_so():
    res = split_half_reliability(simulated_trials(), n_splits=5, n_bootstrap=0)
    assert res["ci_low"].isna().all() and res["ci_high"].isna().all()
    assert res["reliability"].notna().all()
    assert res.attrs["psychoface"]["ci_method"].startswith("none")


# ---------------------------------------------------------------------------------------------
# split-half: bad input


def test_means_only_data_is_refused_with_the_file_named():
    with pytest.raises(PsychofaceError, match=r"reliability needs trial-level ratings \(one row per "
                       r"rating\); the ratings has one row of means"):
        split_half_reliability(None)
    ratings = SimpleNamespace(trials=None, source=Path("study/means.csv"))
    with pytest.raises(PsychofaceError, match=r"study/means.csv has one row of means per stimulus"):
        split_half_reliability(ratings)


def test_ratings_object_with_trials_is_accepted():
    trials = simulated_trials()
    direct = split_half_reliability(trials, n_splits=4, n_bootstrap=10)
    via = split_half_reliability(SimpleNamespace(trials=trials, source=Path("x.csv")), n_splits=4,
                                 n_bootstrap=10)
    pd.testing.assert_frame_equal(direct, via)


def test_unknown_attribute_lists_valid_ones():
    message = r"unknown attribute\(s\) 'smart'.*valid attributes: trust, age"
    with pytest.raises(PsychofaceError, match=message):
        split_half_reliability(simulated_trials(), attributes=["trust", "smart"])


def test_too_few_stimuli_with_two_ratings_is_an_error():
    trials = pd.DataFrame({"stimulus": ["a", "a", "b", "b", "c"], "attribute": "x",
                           "rating": [1.0, 2, 3, 4, 5]})
    with pytest.raises(PsychofaceError, match=r"'x' has only 2 stimuli with >= 2 ratings"):
        split_half_reliability(trials)
    with pytest.raises(PsychofaceError, match=r"only 0 stimuli with >= 3 ratings"):
        split_half_reliability(trials, min_ratings=3)


def test_constant_attribute_gives_an_explained_nan_row():
    trials = simulated_trials(attributes=("trust",))
    const = trials.assign(attribute="flat", rating=50.0)
    res = split_half_reliability(pd.concat([trials, const]), n_splits=4, n_bootstrap=10)
    flat = res.set_index("attribute").loc["flat"]
    assert np.isnan(flat["reliability"]) and np.isnan(flat["ci_low"])
    assert flat["note"] == "constant ratings (every rating is 50): reliability undefined"
    assert res.set_index("attribute").loc["trust", "note"] == ""


def test_split_half_r_of_minus_one_gives_an_explained_undefined_reliability():
    # each stimulus's two ratings are x and -x: every split has r = -1 (Spearman-Brown: -inf)
    x = np.arange(1.0, 11.0)
    trials = pd.DataFrame({"stimulus": np.repeat(np.arange(10), 2).astype(str), "attribute": "x",
                           "rating": np.column_stack([x, -x]).ravel() + np.tile([0.0, 0.1], 10)})
    res = split_half_reliability(trials, n_splits=10, n_bootstrap=20)
    assert res.loc[0, "r_half"] == pytest.approx(-1.0, abs=1e-3)
    for key in ("reliability", "ci_low", "ci_high", "noise_ceiling"):
        assert np.isnan(res.loc[0, key]), key
    assert "mean split-half r = -1.000 <= 0" in res.loc[0, "note"]
    assert "reliability, its CI and the noise ceiling undefined" in res.loc[0, "note"]


def test_pure_noise_never_gives_an_impossible_reliability():
    # no true-score variance: mean split-half r scatters around 0; the reliability is either undefined
    # (with its reason) or a number in [0, 1] with a CI in [0, 1]
    rng = np.random.default_rng(3)
    seen_undefined = seen_defined = False
    for seed in range(12):
        trials = pd.DataFrame({"stimulus": np.repeat(np.arange(40), 4).astype(str), "attribute": "x",
                               "rating": rng.normal(size=160)})
        row = split_half_reliability(trials, n_splits=30, n_bootstrap=300, seed=seed).loc[0]
        if row["r_half"] <= 0:
            seen_undefined = True
            assert np.isnan(row["reliability"]) and np.isnan(row["ci_low"]) and np.isnan(row["ci_high"])
            assert "<= 0" in row["note"]
        else:
            seen_defined = True
            assert 0 <= row["ci_low"] <= row["reliability"] <= row["ci_high"] <= 1
            assert row["reliability"] == pytest.approx(2 * row["r_half"] / (1 + row["r_half"]))
        assert "median 4 ratings per stimulus (< 5)" in row["note"]
    assert seen_undefined and seen_defined


def test_lower_limit_is_truncated_at_zero():
    # a weak signal: mean split-half r > 0 but many bootstrap means are negative
    rng = np.random.default_rng(8)
    true = rng.normal(0, 0.25, 30)
    trials = pd.DataFrame({"stimulus": np.repeat(np.arange(30), 6).astype(str), "attribute": "x",
                           "rating": np.repeat(true, 6) + rng.normal(size=180)})
    row = split_half_reliability(trials, n_splits=20, n_bootstrap=500, seed=1).loc[0]
    assert row["reliability"] > 0 and row["ci_low"] == 0.0 and row["ci_high"] <= 1
    assert row["note"] == ""


@pytest.mark.parametrize("bad, message", [
    ("abc", r"row 2 \(stimulus 'b', attribute 'x'\) has rating 'abc', not a finite number"),
    (np.nan, r"row 2 .* has rating nan"),
    (np.inf, r"row 2 .* has rating inf"),
])
def test_non_numeric_or_missing_rating_names_the_row(bad, message):
    trials = pd.DataFrame({"stimulus": ["a", "a", "b", "b"], "attribute": "x",
                           "rating": pd.Series([1.0, 2.0, bad, 4.0], dtype=object)})
    with pytest.raises(PsychofaceError, match=message):
        split_half_reliability(trials)


def test_missing_columns_and_bad_parameters():
    with pytest.raises(PsychofaceError, match=r"lack column\(s\) rating"):
        split_half_reliability(pd.DataFrame({"stimulus": ["a"], "attribute": ["x"]}))
    trials = simulated_trials()
    for kwargs, msg in [({"n_splits": 0}, "n_splits = 0"), ({"seed": -1}, "seed = -1"),
                        ({"min_ratings": 1}, "min_ratings = 1"), ({"ci_level": 95}, "ci_level = 95"),
                        ({"n_bootstrap": 2.5}, "n_bootstrap = 2.5")]:
        with pytest.raises(PsychofaceError, match=msg):
            split_half_reliability(trials, **kwargs)


# ---------------------------------------------------------------------------------------------
# noise ceiling


def test_noise_ceiling_and_normalized_score():
    assert noise_ceiling(0.81) == pytest.approx(0.9)
    assert isinstance(noise_ceiling(0.81), float)
    assert np.isnan(noise_ceiling(0.0)) and np.isnan(noise_ceiling(-0.2)) and np.isnan(noise_ceiling(np.nan))
    np.testing.assert_allclose(noise_ceiling([0.64, 1.0, -1.0]), [0.8, 1.0, np.nan])
    assert normalized_score(0.45, 0.9) == pytest.approx(0.5)
    np.testing.assert_allclose(normalized_score([0.3, 0.3, 0.3], [0.6, np.nan, 0.0]), [0.5, np.nan, np.nan])


# ---------------------------------------------------------------------------------------------
# ICC


def complete_design(n_stimuli=12, n_raters=5, seed=2, attributes=("trust",)):
    rng = np.random.default_rng(seed)
    rows = []
    for att in attributes:
        true = rng.normal(0, 1, n_stimuli)
        bias = rng.normal(0, 0.5, n_raters)
        for i in range(n_stimuli):
            for j in range(n_raters):
                rows.append((f"s{i}", att, f"r{j}", true[i] + bias[j] + rng.normal(0, 0.8)))
    return pd.DataFrame(rows, columns=["stimulus", "attribute", "rater", "rating"])


def test_icc_equals_pingouin_on_a_complete_design():
    data = complete_design(attributes=("trust", "age"))
    res = icc(data)
    assert list(res["type"]) == ["ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"] * 2
    assert list(res["type_mw"][:6]) == ["ICC(1,1)", "ICC(A,1)", "ICC(C,1)", "ICC(1,k)", "ICC(A,k)",
                                        "ICC(C,k)"]
    for att in ("trust", "age"):
        ref = pingouin.intraclass_corr(data=data[data.attribute == att], targets="stimulus",
                                       raters="rater", ratings="rating")
        got = res[res.attribute == att].reset_index(drop=True)
        # pingouin's rows matched by name: McGraw & Wong (pingouin >= 0.7) or Shrout & Fleiss names
        names = got["type_mw"] if got["type_mw"].isin(ref["Type"]).all() else got["type"]
        ref = ref.set_index("Type").loc[names].reset_index()
        np.testing.assert_allclose(got["icc"], ref["ICC"], rtol=1e-12)
        np.testing.assert_allclose(got["F"], ref["F"], rtol=1e-12)
        p_col = "pval" if "pval" in ref else "p_val"
        np.testing.assert_allclose(got["p"], ref[p_col], rtol=1e-12)
        ci = np.vstack(ref[[c for c in ref.columns if c.startswith("CI95")][0]].to_numpy())
        np.testing.assert_allclose(got[["ci_low", "ci_high"]].to_numpy(), ci, rtol=1e-12)
        assert (got["n"] == 12).all() and (got["k"] == 5).all()
        assert (got["stimuli_dropped"] == 0).all() and (got["raters_dropped"] == 0).all()


def test_icc3k_equals_cronbach_alpha():
    # an independent identity: ICC(3,k) (consistency, mean of k raters) is Cronbach's alpha
    data = complete_design(n_stimuli=20, n_raters=4, seed=9)
    wide = data.pivot(index="stimulus", columns="rater", values="rating")
    alpha = pingouin.cronbach_alpha(data=wide)[0]
    got = icc(data, forms=["ICC3k"])
    assert len(got) == 1 and got.loc[0, "icc"] == pytest.approx(alpha, rel=1e-10)


@pytest.mark.parametrize("old_names", [False, True])
def test_icc_forms_are_matched_by_pingouin_type_not_by_position(monkeypatch, old_names):
    data = complete_design(n_stimuli=15, n_raters=4, seed=6)
    expected = icc(data).set_index("type")["icc"]
    real = pingouin.intraclass_corr
    sf_names = dict(zip([v[0] for v in rel.ICC_FORMS.values()], rel.ICC_FORMS))

    def shuffled(**kwargs):
        out = real(**kwargs).iloc[[4, 0, 5, 2, 1, 3]].reset_index(drop=True)
        if old_names:  # pingouin < 0.7 named the forms after Shrout & Fleiss
            out["Type"] = out["Type"].map(sf_names)
        return out

    monkeypatch.setattr(pingouin, "intraclass_corr", shuffled)
    got = icc(data).set_index("type")["icc"]
    pd.testing.assert_series_equal(got, expected)
    assert len(set(got.round(12))) == 6  # six different values: a positional mix-up would show


def test_icc_averages_repeated_ratings():
    data = complete_design(n_stimuli=8, n_raters=3, seed=4)
    extra = data.iloc[[0, 5]].assign(rating=lambda d: d.rating + 1.0)
    res = icc(pd.concat([data, extra]), forms="ICC2")
    averaged = pd.concat([data, extra]).groupby(["stimulus", "rater"], as_index=False)["rating"].mean()
    ref = pingouin.intraclass_corr(data=averaged, targets="stimulus", raters="rater", ratings="rating")
    assert res.loc[0, "repeats_averaged"] == 2
    assert res.loc[0, "icc"] == pytest.approx(ref.set_index("Type").loc["ICC(A,1)", "ICC"], rel=1e-12)


def test_icc_bad_input():
    with pytest.raises(PsychofaceError, match=r"ICCs need rater ids .* use split_half_reliability"):
        icc(simulated_trials())
    with pytest.raises(PsychofaceError, match=r"unknown ICC form\(s\) 'ICC4'"):
        icc(complete_design(), forms=["ICC2", "ICC4"])
    # every rater rated a different stimulus: no block of >= 3 stimuli and >= 2 raters
    sparse = pd.DataFrame({"stimulus": list("abcd"), "attribute": "x", "rater": list("pqrs"),
                           "rating": [1.0, 2, 3, 4]})
    with pytest.raises(PsychofaceError, match=r"no block of the stimulus x rater design .*largest: 1 stimuli, 1 raters"):
        icc(sparse)
    const = complete_design().assign(rating=3.0)
    res = icc(const, forms=["ICC2"])
    assert np.isnan(res.loc[0, "icc"]) and "constant ratings" in res.loc[0, "note"]


# ---------------------------------------------------------------------------------------------
# real data


@pytest.mark.omi
def test_omi_split_half_is_sane_and_agrees_with_one_way_anova():
    if not OMI.exists():
        pytest.skip(f"{OMI} is absent (../shared holds the licensed OMI ratings)")
    trials = pd.read_csv(OMI, dtype={"stimulus": str})
    res = split_half_reliability(trials, n_splits=50, n_bootstrap=500, seed=0).set_index("attribute")
    assert len(res) == 34 and (res["n"] == 500).all() and (res["excluded_stimuli"] == 0).all()
    assert ((res["ci_low"] < res["reliability"]) & (res["reliability"] < res["ci_high"])).all()
    assert ((res["reliability"] > 0.5) & (res["ci_high"] < 1)).all()
    # perceptually obvious attributes are rated more reliably than familiarity or self-similarity
    assert res.loc["gender", "reliability"] > 0.98 and res.loc["age", "reliability"] > 0.98
    assert res.loc["looks-like-you", "reliability"] < res.loc["trustworthy", "reliability"]
    # independent estimate: one-way random-effects ANOVA ICC(1) stepped up to the harmonic mean number
    # of ratings (unbalanced k0 of Snedecor & Cochran); the two estimators agree within .01
    for att, sub in trials.groupby("attribute"):
        g = sub.groupby("stimulus")["rating"]
        n_i, m_i = g.size().to_numpy(), g.mean().to_numpy()
        total, groups = n_i.sum(), len(n_i)
        msb = (n_i * (m_i - sub["rating"].mean()) ** 2).sum() / (groups - 1)
        msw = ((sub["rating"] - g.transform("mean")) ** 2).sum() / (total - groups)
        k0 = (total - (n_i**2).sum() / total) / (groups - 1)
        icc1 = (msb - msw) / (msb + (k0 - 1) * msw)
        k_h = groups / np.sum(1 / n_i)
        anova = k_h * icc1 / (1 + (k_h - 1) * icc1)
        assert res.loc[att, "reliability"] == pytest.approx(anova, abs=0.01), att


# ---------------------------------------------------------------------------------------------
# simulation


@pytest.mark.slow
def test_bootstrap_ci_covers_true_reliability():
    """200 simulated studies: 80 stimuli x 8 ratings, true reliability of the 8-rating mean .75."""
    rng = np.random.default_rng(2024)
    n_stim, k, reps = 80, 8, 200
    var_e = k * (1 / 0.75 - 1)  # var_true = 1
    covered = []
    for rep in range(reps):
        true = rng.normal(0, 1, n_stim)
        ratings = true[:, None] + rng.normal(0, np.sqrt(var_e), (n_stim, k))
        trials = pd.DataFrame({"stimulus": np.repeat(np.arange(n_stim), k), "attribute": "x",
                               "rating": ratings.ravel()})
        res = split_half_reliability(trials, n_splits=20, n_bootstrap=1000, seed=rep)
        covered.append(res.loc[0, "ci_low"] <= 0.75 <= res.loc[0, "ci_high"])
    coverage = np.mean(covered)
    # nominal .95; Monte-Carlo SE with 200 replications is about .015
    assert 0.90 <= coverage <= 0.99, coverage


@pytest.mark.slow
def test_few_ratings_bias_and_coverage_are_as_documented():
    """200 simulated studies, 80 stimuli x 3 ratings (halves of 1 and 2 ratings), true reliability of
    the 3-rating mean .5625: the estimate is biased low and the CI undercovers, as the few-ratings note
    states (mean .536, coverage .90)."""
    rng = np.random.default_rng(2024)
    n_stim, k, reps, true_rel = 80, 3, 200, 0.5625
    var_e = k * (1 / true_rel - 1)
    estimates, covered = [], []
    for rep in range(reps):
        true = rng.normal(0, 1, n_stim)
        ratings = true[:, None] + rng.normal(0, np.sqrt(var_e), (n_stim, k))
        trials = pd.DataFrame({"stimulus": np.repeat(np.arange(n_stim), k), "attribute": "x",
                               "rating": ratings.ravel()})
        row = split_half_reliability(trials, n_splits=20, n_bootstrap=1000, seed=rep).loc[0]
        assert "median 3 ratings per stimulus (< 5)" in row["note"]
        estimates.append(row["reliability"])
        covered.append(row["ci_low"] <= true_rel <= row["ci_high"])
    mean, se = np.mean(estimates), np.std(estimates) / np.sqrt(reps)
    assert mean < true_rel - 2 * se  # biased low
    coverage, coverage_se = np.mean(covered), np.sqrt(0.95 * 0.05 / reps)
    assert coverage < 0.95 - coverage_se  # undercovers, as the note warns
    assert "about" in rel.FEW_RATINGS_NOTE  # the note's figures are this simulation's, stated as approximate
