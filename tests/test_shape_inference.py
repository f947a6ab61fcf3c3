"""Shape statistics: averageness, RRPP regression, group means and dimorphism, symmetry and the shape RDM,
against pingouin, statsmodels, geomstats and explicit loops on fixed data; type I error and power by
simulation (slow)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from psychoface.analyses.inference import permutation_p
from psychoface.analyses.shape import kendall as K
from psychoface.analyses.shape.averageness import averageness, distinctiveness, resampled_distances
from psychoface.analyses.shape.correlation import correlate_scores, permutations, streams
from psychoface.analyses.shape.groups import dimorphism, dimorphism_scores, group_differences, group_means
from psychoface.analyses.shape.rdm import shape_rdm
from psychoface.analyses.shape.regression import rrpp_null, shape_change, shape_regression
from psychoface.analyses.shape.symmetry import components, mirror_images, symmetry
from psychoface.errors import PsychofaceError


def _configs(n, k=8, spread=0.1, seed=0, base=None):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(k, 2)) if base is None else base
    return base + spread * rng.normal(size=(n, k, 2))


def _fit(X, ids=None):
    """A ShapeFit with the closed-form mean (tested equal to geomstats' in test_shape_kendall.py); fast
    enough for simulations."""
    P = K.preshapes(X)
    Z = K.to_complex(P)
    m, _, _ = K.batched_means(Z, np.full((1, len(P)), 1 / len(P)), K.to_complex(K.full_procrustes_mean(P)))
    mean = K.to_real(m[0])
    A = K.align(P, mean)
    ids = ids or [str(i) for i in range(len(P))]
    return K.ShapeFit(ids, A, mean, K.rho(A, mean[None]), K.log_map(A, mean), np.ones(len(P)))


# ------------------------------------------------------------------------------------------ averageness


def test_averageness_estimates_against_pingouin():
    rng = np.random.default_rng(1)
    fit = K.fit_shapes(_configs(40), [f"f{i}" for i in range(40)])
    y = pd.DataFrame({"a": fit.rho * 30 + rng.normal(size=40), "b": rng.normal(size=40)})
    cov = pd.DataFrame({"c": rng.normal(size=40) + y["a"]})
    plain = averageness(fit, y, n_permutations=199, n_bootstrap=199)
    for row in plain.itertuples():
        assert row.r == pytest.approx(pg.corr(fit.rho, y[row.attribute])["r"].iloc[0], abs=1e-12)
    part = averageness(fit, y, covariates=cov, n_permutations=199, n_bootstrap=199)
    data = pd.DataFrame({"x": fit.rho, "c": cov["c"], **y})
    for row in part.itertuples():
        ref = pg.partial_corr(data, x="x", y=row.attribute, covar="c")["r"].iloc[0]
        assert row.r == pytest.approx(ref, abs=1e-12) and row.covariates == "c"
    attrs = part.attrs["psychoface"]
    assert attrs["analysis"] == "shape averageness" and "Freedman-Lane" in attrs["p_method"]
    assert list(distinctiveness(fit).columns) == ["stimulus", "rho", "procrustes_distance"]


def test_permutation_and_bootstrap_equal_explicit_loops():
    rng = np.random.default_rng(2)
    n = 25
    x = rng.normal(size=n)
    y = pd.DataFrame({"a": x + rng.normal(size=n)})
    c = pd.DataFrame({"c": rng.normal(size=n)})
    df = correlate_scores(x, y, covariates=c, n_permutations=300, n_bootstrap=300, seed=5)
    rng_p, rng_b = streams(5)
    perms = permutations(rng_p, 300, n)
    C1 = np.column_stack([np.ones(n), c["c"]])
    resid = lambda v, M: v - M @ np.linalg.lstsq(M, v, rcond=None)[0]  # noqa: E731
    fitted = y["a"].to_numpy() - resid(y["a"].to_numpy(), C1)
    e = resid(y["a"].to_numpy(), C1)
    null = [np.corrcoef(resid(x, C1), resid(fitted + e[p], C1))[0, 1] for p in perms]
    assert df["p"].iloc[0] == pytest.approx(float(permutation_p(df["r"].iloc[0], np.array(null))), abs=1e-12)
    idx = (rng_b.random((300, n)) * n).astype(np.intp)
    boot = [pg.partial_corr(pd.DataFrame({"x": x[i], "y": y["a"].to_numpy()[i], "c": c["c"].to_numpy()[i]}),
                            x="x", y="y", covar="c")["r"].iloc[0] for i in idx]
    lo, hi = np.quantile(boot, [0.025, 0.975])
    assert df["ci_low"].iloc[0] == pytest.approx(lo, abs=1e-10) and df["ci_high"].iloc[0] == pytest.approx(hi, abs=1e-10)


def test_bootstrap_re_estimates_the_mean_shape():
    X = _configs(30, spread=0.15, seed=4)
    fit = K.fit_shapes(X, [str(i) for i in range(30)])
    idx = np.random.default_rng(0).integers(0, 30, 30)
    counts = np.bincount(idx, minlength=30)[None].astype(float)
    got = resampled_distances(fit)(counts)[0]
    resample_mean = K.frechet_mean(fit.preshapes[idx])
    expected = K.rho(fit.preshapes, resample_mean[None])
    np.testing.assert_allclose(got[counts[0] > 0], expected[counts[0] > 0], atol=1e-7)


def test_missing_ratings_and_bad_input():
    rng = np.random.default_rng(3)
    x = rng.normal(size=12)
    y = pd.DataFrame({"a": rng.normal(size=12), "b": rng.normal(size=12)})
    y.loc[0, "b"] = np.nan
    df = correlate_scores(x, y, n_permutations=99, n_bootstrap=99)
    assert list(df["n"]) == [12, 11]
    assert df["r"].iloc[1] == pytest.approx(np.corrcoef(x[1:], y["b"][1:])[0, 1])
    with pytest.raises(PsychofaceError, match="4 faces have ratings of a; this needs at least 5"):
        correlate_scores(x[:4], y.iloc[:4][["a"]], n_permutations=9, n_bootstrap=0)
    with pytest.raises(PsychofaceError, match="n_permutations=-1"):
        correlate_scores(x, y, n_permutations=-1)


# ------------------------------------------------------------------------------------------ RRPP


@pytest.mark.parametrize("ss_type, typ", [("I", 1), ("II", 2)])
def test_rrpp_statistics_against_statsmodels(ss_type, typ):
    rng = np.random.default_rng(0)
    n = 30
    preds = pd.DataFrame({"g": rng.choice(["f", "m", "x"], n), "a": rng.normal(size=n), "b": rng.normal(size=n)})
    Y = np.column_stack([0.5 * preds["a"] + rng.normal(size=n), rng.normal(size=n), (preds["g"] == "m") + rng.normal(size=n)])
    df = shape_regression(Y, preds, ss_type=ss_type, n_permutations=0).set_index("term")
    ss = {t: 0.0 for t in ("C(g)", "a", "b")}
    rss = 0.0
    for j in range(3):
        table = sm.stats.anova_lm(smf.ols("y ~ C(g) + a + b", data=preds.assign(y=Y[:, j])).fit(), typ=typ)
        for t in ss:
            ss[t] += table.loc[t, "sum_sq"]
        rss += table.loc["Residual", "sum_sq"]
        if j == 0:
            resid_df = table.loc["Residual", "df"]
    for ours, theirs in (("g", "C(g)"), ("a", "a"), ("b", "b")):
        assert df.loc[ours, "ss"] == pytest.approx(ss[theirs], rel=1e-10)
    assert df["rss"].iloc[0] == pytest.approx(rss, rel=1e-10) and df["df_resid"].iloc[0] == resid_df
    assert list(df["df"]) == [2, 1, 1]
    tss = ((Y - Y.mean(0)) ** 2).sum()
    np.testing.assert_allclose(df["r2"], df["ss"] / tss)
    np.testing.assert_allclose(df["F"], (df["ss"] / df["df"]) / (rss / resid_df))


def test_rrpp_hand_worked_small_case():
    """Six faces, two tangent coordinates, predictors x then w (type I). For the term w, the reduced model is
    y ~ 1 + x; each permutation adds the reduced model's permuted residuals to its fitted values and both
    models are refitted by least squares, here written out as explicit fits."""
    Y = np.array([[0.10, -0.20], [0.30, 0.00], [-0.10, 0.20], [0.40, 0.10], [0.00, -0.30], [0.20, 0.30]])
    preds = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "w": [0.5, -1.0, 2.0, 0.0, 1.0, -0.5]})
    X_red = np.column_stack([np.ones(6), preds["x"]])
    X_full = np.column_stack([X_red, preds["w"]])
    fit = lambda X, Yv: X @ np.linalg.lstsq(X, Yv, rcond=None)[0]  # noqa: E731
    fitted_red = fit(X_red, Y)
    E = Y - fitted_red
    perms = np.array([[0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0], [1, 0, 3, 2, 5, 4], [2, 5, 0, 4, 1, 3]])
    expected = []
    for p in perms:
        Ystar = fitted_red + E[p]
        ss = ((fit(X_full, Ystar) - fit(X_red, Ystar)) ** 2).sum()
        rss = ((Ystar - fit(X_full, Ystar)) ** 2).sum()
        expected.append((ss, rss))
    from psychoface.analyses.shape.regression import _orth

    Qr = _orth(X_red)
    Qt = _orth(preds[["w"]].to_numpy() - Qr @ (Qr.T @ preds[["w"]].to_numpy()))
    Q = _orth(X_full)
    np.testing.assert_allclose(rrpp_null(Y, Qr, Qt, Q, perms), expected, atol=1e-12)
    # the identity permutation reproduces the observed statistics: F = (SS / 1) / (RSS / 3)
    df = shape_regression(Y, preds, n_permutations=0).set_index("term")
    ss_obs, rss_obs = expected[0]
    assert df.loc["w", "ss"] == pytest.approx(ss_obs) and df.loc["w", "F"] == pytest.approx(ss_obs / (rss_obs / 3))
    # with every one of the 720 permutations the p-value is the exact permutation p
    from itertools import permutations as all_perms

    everything = np.array(list(all_perms(range(6))))
    null = rrpp_null(Y, Qr, Qt, Q, everything)
    f_null = null[:, 0] / (null[:, 1] / 3)
    exact = ((f_null >= df.loc["w", "F"] - 1e-12).sum()) / 720
    assert 0 < exact <= 1


def test_rrpp_output_and_errors():
    rng = np.random.default_rng(5)
    fit = _fit(_configs(40, seed=5))
    preds = pd.DataFrame({"a": fit.tangent_matrix[:, 0] * 50 + rng.normal(size=40), "b": rng.normal(size=40)})
    df = shape_regression(fit.tangent_matrix, preds, n_permutations=199, seed=1)
    assert list(df.columns) == ["term", "df", "ss", "ms", "r2", "F", "Z", "p", "p_corr", "df_resid", "rss", "n"]
    assert df["p"].iloc[0] == pytest.approx(1 / 200) and df["Z"].iloc[0] > 2
    assert df.attrs["psychoface"]["ss_type"] == "I"
    assert shape_change(fit.tangent_matrix, preds, "a").shape == (16,)
    with pytest.raises(PsychofaceError, match="same value for every face"):
        shape_regression(fit.tangent_matrix, preds.assign(c=1.0), n_permutations=9)
    with pytest.raises(PsychofaceError, match="predictor 'a' is missing for face"):
        shape_regression(fit.tangent_matrix, preds.assign(a=np.r_[np.nan, preds["a"][1:]]), n_permutations=9)
    with pytest.raises(PsychofaceError, match="unknown sums of squares type 'III'"):
        shape_regression(fit.tangent_matrix, preds, ss_type="III")
    with pytest.raises(PsychofaceError, match="needs more faces than parameters"):
        shape_regression(fit.tangent_matrix[:3], preds.iloc[:3], n_permutations=9)


# ------------------------------------------------------------------------------------------ groups


def test_group_means_distance_and_dimorphism_against_geomstats():
    rng = np.random.default_rng(6)
    base = rng.normal(size=(8, 2))
    shift = np.zeros((8, 2))
    shift[0] = [0.4, 0.0]
    X = np.concatenate([_configs(20, base=base, seed=1), _configs(25, base=base + shift, seed=2)])
    labels = ["f"] * 20 + ["m"] * 25
    fit = K.fit_shapes(X, [str(i) for i in range(45)])
    means = group_means(fit, labels)
    for g, rows in (("f", slice(0, 20)), ("m", slice(20, 45))):
        assert K.rho(means[g], K.frechet_mean(fit.preshapes[rows])) < 1e-8
    df = group_differences(fit, labels, n_permutations=199)
    _, quotient = K.geomstats_spaces(8)
    assert df["distance"].iloc[0] == pytest.approx(float(quotient.metric.dist(means["f"], means["m"])), abs=1e-7)
    assert df["p"].iloc[0] == pytest.approx(1 / 200)
    assert df["procrustes_distance"].iloc[0] == pytest.approx(2 * np.sin(df["distance"].iloc[0] / 2))
    # the dimorphism score is 0 at the first mean and 1 at the second, linear along the geodesic
    from psychoface.analyses.shape.groups import _scores

    v = K.log_map(means["m"][None], means["f"])[0]
    along = K.exp_map(np.stack([0.0 * v, 0.5 * v, v]), means["f"])
    s = _scores(K.to_complex(along), K.to_complex(means["f"])[None], K.to_complex(means["m"])[None])[0]
    np.testing.assert_allclose(s, [0.0, 0.5, 1.0], atol=1e-9)
    score = dimorphism_scores(fit, labels, "f", "m")
    assert score[:20].mean() < 0.2 and score[20:].mean() > 0.8
    masc = pd.DataFrame({"masculine": score * 10 + rng.normal(size=45)})
    table, _ = dimorphism(fit, labels, masc, n_permutations=99, n_bootstrap=99)
    assert table["r"].iloc[0] == pytest.approx(np.corrcoef(score, masc["masculine"])[0, 1])
    assert table["score"].iloc[0] == "f -> m" and table["ci_low"].iloc[0] > 0


def test_group_errors():
    fit = _fit(_configs(10))
    with pytest.raises(PsychofaceError, match="all faces are in group 'a'"):
        group_differences(fit, ["a"] * 10)
    with pytest.raises(PsychofaceError, match="group 'b' has 1 face"):
        group_differences(fit, ["a"] * 9 + ["b"])
    with pytest.raises(PsychofaceError, match="3 groups .* needs two"):
        dimorphism(fit, ["a", "b", "c"] * 3 + ["a"], pd.DataFrame({"r": np.arange(10.0)}))


# ------------------------------------------------------------------------------------------ symmetry


def _symmetric_base():
    left = np.array([[-1.0, 0.5], [-0.6, -0.4], [-0.3, 1.0]])
    mid = np.array([[0.0, 0.2], [0.0, -1.0]])
    right = left * [-1, 1]
    return np.concatenate([left, right, mid]), [(0, 3), (1, 4), (2, 5)]


def test_symmetry_components():
    base, pairs = _symmetric_base()
    rng = np.random.default_rng(7)
    X = np.stack([base, *(base + 0.05 * rng.normal(size=base.shape) for _ in range(19))])
    fit = K.fit_shapes(X, [str(i) for i in range(20)])
    asym, sym, anti = components(fit.preshapes, pairs)
    assert asym[0] < 1e-7 and asym[1:].min() > 0
    # the mirror of the mirror is the face; the symmetric component is symmetric
    np.testing.assert_allclose(mirror_images(mirror_images(fit.preshapes, pairs), pairs), fit.preshapes)
    assert components(sym, pairs)[0].max() < 1e-7
    # asymmetry = the geomstats distance between the face and its relabelled mirror image
    _, quotient = K.geomstats_spaces(8)
    M = mirror_images(fit.preshapes, pairs)
    np.testing.assert_allclose(asym, [quotient.metric.dist(fit.preshapes[i], M[i]) for i in range(20)], atol=1e-7)
    # the face is half way from its mirror image to itself: its distance to its symmetric part is rho / 2
    np.testing.assert_allclose(np.sqrt((anti**2).sum(axis=(1, 2))), asym / 2, atol=1e-7)
    faces, test = symmetry(fit, pairs, n_permutations=199)
    np.testing.assert_allclose(faces["asymmetry"], asym)
    assert test["p"].iloc[0] > 0.01 and 0 <= test["share_directional"].iloc[0] <= 1
    with pytest.raises(PsychofaceError, match="symmetry needs a left-right pairing"):
        symmetry(fit, None)


def test_directional_asymmetry_is_found():
    base, pairs = _symmetric_base()
    rng = np.random.default_rng(8)
    X = base + 0.03 * rng.normal(size=(30, 8, 2))
    X[:, 0, 1] += 0.1  # one left point always higher
    faces, test = symmetry(K.fit_shapes(X, [str(i) for i in range(30)]), pairs, n_permutations=199)
    assert test["p"].iloc[0] == pytest.approx(1 / 200) and test["share_directional"].iloc[0] > 0.3


# ------------------------------------------------------------------------------------------ RDM


def test_shape_rdm_in_rsa_and_partial_rsa():
    from psychoface.analyses.rdm import RDM, compare
    from psychoface.analyses.rsa import partial_rsa, rsa

    rng = np.random.default_rng(9)
    fit = _fit(_configs(20, seed=9), [f"s{i}" for i in range(20)])
    shape = shape_rdm(fit)
    assert shape.n == 20 and shape.metric.startswith("Kendall")
    layer = RDM(shape.dissimilarities + 0.01 * rng.random(shape.n_pairs), shape.ids, "euclidean", "layer")
    rating = RDM(rng.random(shape.n_pairs), shape.ids, "euclidean", "rating")
    out = rsa({"layer": layer}, {"shape": shape}, n_permutations=99, n_bootstrap=99)
    assert out["rho"].iloc[0] == pytest.approx(compare(layer, shape)) and out["p"].iloc[0] == pytest.approx(0.01)
    part = partial_rsa({"layer": layer}, {"rating": rating}, {"shape": shape}, n_permutations=99, n_bootstrap=0)
    assert part["covariates"].iloc[0] == "shape"


# ------------------------------------------------------------------------------------------ simulations


# The simulations pass correction="none": statsmodels' Holm runs gc.collect() on every call (about 0.3 s
# with torch and geomstats imported), which would dominate thousands of one-test calls.


def _band(rate, reps, alpha=0.05):
    se = np.sqrt(alpha * (1 - alpha) / reps)
    return alpha - 3 * se <= rate <= alpha + 3 * se


@pytest.mark.slow
def test_type_one_error_and_power_of_averageness():
    reps, n = 400, 30
    rng = np.random.default_rng(10)
    base = rng.normal(size=(8, 2))
    null_hits = power_hits = fl_hits = 0
    for r in range(reps):
        fit = _fit(_configs(n, base=base, seed=1000 + r))
        noise = rng.normal(size=n)
        cov = fit.rho / fit.rho.std() + rng.normal(size=n)          # a covariate related to distinctiveness
        y = pd.DataFrame({"null": noise, "planted": fit.rho / fit.rho.std() * 0.6 + rng.normal(size=n),
                          "via_cov": cov + rng.normal(size=n)})
        df = correlate_scores(fit.rho, y[["null", "planted"]], n_permutations=99, n_bootstrap=0, seed=r,
                              correction="none")
        null_hits += df["p"].iloc[0] <= 0.05
        power_hits += df["p"].iloc[1] <= 0.05
        # y depends on the score only through the covariate: no partial relation (Freedman-Lane)
        fl = correlate_scores(fit.rho, y[["via_cov"]], covariates=pd.DataFrame({"c": cov}),
                              n_permutations=99, n_bootstrap=0, seed=r, correction="none")
        fl_hits += fl["p"].iloc[0] <= 0.05
    assert _band(null_hits / reps, reps) and _band(fl_hits / reps, reps)
    assert power_hits / reps > 0.8


@pytest.mark.slow
def test_bootstrap_ci_coverage_of_a_correlation():
    reps, n, rho_true = 200, 40, 0.5
    rng = np.random.default_rng(11)
    hits = 0
    for r in range(reps):
        x = rng.normal(size=n)
        y = rho_true * x + np.sqrt(1 - rho_true**2) * rng.normal(size=n)
        df = correlate_scores(x, pd.DataFrame({"y": y}), n_permutations=0, n_bootstrap=400, seed=r,
                              correction="none")
        hits += df["ci_low"].iloc[0] <= rho_true <= df["ci_high"].iloc[0]
    # percentile intervals of r undercover a little at n = 40: accept 0.95 - 4 SE
    assert hits / reps >= 0.95 - 4 * np.sqrt(0.95 * 0.05 / reps)


@pytest.mark.slow
def test_type_one_error_and_power_of_rrpp_groups_and_asymmetry():
    reps, n = 400, 24
    rng = np.random.default_rng(12)
    base, pairs = _symmetric_base()
    hits = {"rrpp_null": 0, "rrpp_power": 0, "group_null": 0, "group_power": 0, "da_null": 0}
    for r in range(reps):
        X = base + 0.05 * rng.normal(size=(n, 8, 2))
        fit = _fit(X)
        x = rng.normal(size=n)
        preds = pd.DataFrame({"w": rng.normal(size=n), "x": x})
        hits["rrpp_null"] += shape_regression(fit.tangent_matrix, preds, n_permutations=99, seed=r, correction="none")["p"].iloc[1] <= .05
        planted = fit.tangent_matrix[:, 0] / fit.tangent_matrix[:, 0].std() + 0.5 * rng.normal(size=n)
        hits["rrpp_power"] += shape_regression(fit.tangent_matrix, preds.assign(x=planted), n_permutations=99,
                                               seed=r, correction="none")["p"].iloc[1] <= .05
        labels = np.array(["a", "b"] * (n // 2))
        hits["group_null"] += group_differences(fit, labels, n_permutations=99, seed=r, correction="none")["p"].iloc[0] <= .05
        shifted = X.copy()
        shifted[labels == "b", 6, 1] += 0.12
        hits["group_power"] += group_differences(_fit(shifted), labels, n_permutations=99, seed=r,
                                                correction="none")["p"].iloc[0] <= .05
        hits["da_null"] += symmetry(fit, pairs, n_permutations=99, seed=r)[1]["p"].iloc[0] <= .05
    for key in ("rrpp_null", "group_null", "da_null"):
        assert _band(hits[key] / reps, reps), (key, hits[key] / reps)
    assert hits["rrpp_power"] / reps > 0.8 and hits["group_power"] / reps > 0.8, hits
