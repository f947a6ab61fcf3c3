"""Property measures and tests: equality with independent references (pingouin, statsmodels, scipy,
scikit-image, causal-learn, a hand-worked Freedman-Lane loop) and bad input."""

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
import statsmodels.api as sm
from PIL import Image

from psychoface.analyses.properties import association, beyond, image_measures, landmark_measures, table
from psychoface.errors import PsychofaceError


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    n = 60
    df = pd.DataFrame({"o": rng.normal(size=n), "x": rng.normal(size=n), "c": rng.normal(size=n)})
    df["o"] += 0.4 * df.x
    df["g3"] = np.array(["a", "b", "c"] * 20)
    df["g2"] = np.array(["f"] * 30 + ["m"] * 30)
    return df


def test_spearman_and_partial_match_pingouin(data):
    ref = pg.partial_corr(data, x="o", y="x", covar="c", method="spearman")
    got = association.spearman(data.o, data.x, data[["c"]].to_numpy())
    assert got["estimate"] == pytest.approx(ref["r"].iloc[0], abs=1e-12)
    assert got["p"] == pytest.approx(ref["p_val"].iloc[0], rel=1e-9)
    assert [got["ci_low"], got["ci_high"]] == pytest.approx(list(ref["CI95"].iloc[0]), abs=0.005)
    ref = pg.corr(data.o, data.x, method="spearman")
    got = association.spearman(data.o, data.x)
    assert got["estimate"] == pytest.approx(ref["r"].iloc[0], abs=1e-12)
    assert got["p"] == pytest.approx(ref["p_val"].iloc[0], rel=1e-9)


def test_group_tests_match_pingouin_and_scipy(data):
    o, g = data.o.to_numpy(), data.g2.to_numpy()
    got = association.hedges_g(o, g)
    g_ref = pg.compute_effsize(o[g == "m"], o[g == "f"], eftype="hedges")
    assert got["estimate"] == pytest.approx(g_ref, abs=1e-12)
    ci = pg.compute_esci(g_ref, 30, 30, eftype="hedges", decimals=6)
    assert [got["ci_low"], got["ci_high"]] == pytest.approx(list(ci), abs=1e-5)
    welch = pg.ttest(o[g == "m"], o[g == "f"], correction=True)
    assert got["p"] == pytest.approx(welch["p_val"].iloc[0], rel=1e-9)
    got = association.anova_eta2(o, data.g3.to_numpy(), n_bootstrap=200)
    ref = pg.anova(data, dv="o", between="g3", detailed=True)
    assert got["estimate"] == pytest.approx(ref["np2"].iloc[0], abs=1e-12)
    assert got["p"] == pytest.approx(ref["p_unc"].iloc[0] if "p_unc" in ref else ref["p-unc"].iloc[0], rel=1e-9)
    assert got["ci_low"] <= got["estimate"] <= got["ci_high"]


def test_ols_hc3_matches_statsmodels(data):
    props = data[["x", "c", "g3"]]
    types = {"x": "continuous", "c": "continuous", "g3": "categorical"}
    res = association.ols_hc3(data[["o"]], props, types)
    X = sm.add_constant(np.column_stack([data.x, data.c, data.g3 == "b", data.g3 == "c"]).astype(float))
    fit = sm.OLS(data.o.to_numpy(), X).fit(cov_type="HC3")
    assert list(res["term"]) == ["x", "c", "g3[b]", "g3[c]"]
    np.testing.assert_allclose(res["b"], fit.params[1:], rtol=1e-10)
    np.testing.assert_allclose(res["se"], fit.bse[1:], rtol=1e-10)
    np.testing.assert_allclose(res["p"], fit.pvalues[1:], rtol=1e-8)
    np.testing.assert_allclose(res[["ci_low", "ci_high"]], fit.conf_int()[1:], rtol=1e-8)


def test_associate_table(data):
    props = data[["x", "c", "g2", "g3"]]
    types = table.property_types(props)
    assert types == {"x": "continuous", "c": "continuous", "g2": "categorical", "g3": "categorical"}
    res = association.associate(data[["o"]], props, types, covariates=["c"], n_bootstrap=100, correction="fdr_bh")
    assert list(res["property"]) == ["x", "g2", "g3"]
    assert list(res["test"]) == ["partial Spearman", "Welch t", "one-way ANOVA"]
    meta = res.attrs["psychoface"]
    assert meta["correction"] == "Benjamini-Hochberg" and 0 <= meta["share_significant"] <= 1
    assert res.loc[0, "p_corr"] < 0.05


def _hand_freedman_lane(o, h, x, perms):
    """Freedman-Lane by refitting statsmodels OLS for every permutation (the slow, obvious way)."""
    Z = sm.add_constant(h)
    full = sm.add_constant(np.column_stack([h, x]))
    red = sm.OLS(o, Z).fit()
    F_obs = sm.OLS(o, full).fit().compare_f_test(red)[0]
    b = 0
    for perm in perms:
        o_star = red.fittedvalues + red.resid[perm]
        f_full, f_red = sm.OLS(o_star, full).fit(), sm.OLS(o_star, Z).fit()
        b += f_full.compare_f_test(f_red)[0] >= F_obs - 1e-12
    return F_obs, (b + 1) / (len(perms) + 1)


def test_freedman_lane_matches_hand_worked_case():
    # eight faces, numbers small enough to check on paper; the loop refits both models per permutation
    h = np.array([1.0, 2, 3, 4, 5, 6, 7, 8])
    x = np.array([2.0, 1, 4, 3, 6, 5, 8, 9])
    o = np.array([1.5, 1.0, 3.2, 3.9, 5.1, 5.0, 7.7, 9.4])
    perms = np.random.default_rng(3).permuted(np.tile(np.arange(8), (199, 1)), axis=1)
    F, F_null, delta, ss_e, q = beyond.freedman_lane(o[:, None], h, x[:, None], perms)
    F_ref, p_ref = _hand_freedman_lane(o, h, x, perms)
    assert F[0] == pytest.approx(F_ref, rel=1e-10)
    from psychoface.analyses.inference import permutation_p

    assert permutation_p(F, F_null, "greater")[0] == pytest.approx(p_ref)
    # partial r and delta R^2 against pingouin and statsmodels
    df = pd.DataFrame({"o": o, "h": h, "x": x})
    pr = pg.partial_corr(df, x="o", y="x", covar="h")["r"].iloc[0]
    assert np.sqrt(delta[0] / ss_e[0]) == pytest.approx(abs(pr), rel=1e-10)


def test_beyond_humans_table_and_kci_match_references():
    rng = np.random.default_rng(5)
    n = 80
    h = rng.normal(size=n)
    x = 0.5 * h + rng.normal(size=n)
    ids = [f"s{i}" for i in range(n)]
    outputs = pd.DataFrame({"net": h + 0.8 * x + 0.5 * rng.normal(size=n)}, index=ids)
    humans = pd.DataFrame({"trust": h}, index=ids)
    props = pd.DataFrame({"x": x, "sex": np.where(rng.random(n) < 0.5, "f", "m")}, index=ids)
    types = {"x": "continuous", "sex": "categorical"}
    res = beyond.beyond_humans(outputs, humans, {"net": "trust"}, props, types, n_permutations=199,
                               n_bootstrap=200, kci=True, seed=1)
    row = res.set_index("property").loc["x"]
    df = pd.DataFrame({"o": outputs.net.to_numpy(), "h": h, "x": x})
    assert row["partial_r"] == pytest.approx(pg.partial_corr(df, x="o", y="x", covar="h")["r"].iloc[0], rel=1e-10)
    r2_full = sm.OLS(df.o, sm.add_constant(df[["h", "x"]])).fit().rsquared
    r2_red = sm.OLS(df.o, sm.add_constant(df[["h"]])).fit().rsquared
    assert row["delta_r2"] == pytest.approx(r2_full - r2_red, rel=1e-10)
    assert row["p"] == pytest.approx(1 / 200)
    assert row["r_humans"] == pytest.approx(np.corrcoef(h, x)[0, 1])
    assert row["ci_low"] < row["r_diff"] < row["ci_high"]
    from causallearn.utils.KCI.KCI import KCI_CInd

    p_ref, _ = KCI_CInd().compute_pvalue(df[["o"]].to_numpy(), df[["x"]].to_numpy(), df[["h"]].to_numpy())
    assert row["kci_p"] == pytest.approx(p_ref)
    assert res.attrs["psychoface"]["n_permutations"] == 199


def test_landmark_measures_on_a_symmetric_face():
    pts = _dlib68_frontal()
    c = pts[None]
    assert landmark_measures.asymmetry(c)[0] == pytest.approx(0.0, abs=1e-12)
    assert landmark_measures.roll(c)[0] == pytest.approx(0.0, abs=1e-9)
    assert landmark_measures.yaw(c)[0] == pytest.approx(0.0, abs=1e-9)
    # rotating the face by 10 degrees in the image gives a roll of 10 and leaves asymmetry at 0
    t = np.radians(10)
    R = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    rotated = (pts - 100) @ R.T + 100
    assert landmark_measures.roll(rotated[None])[0] == pytest.approx(10.0, abs=1e-9)
    assert landmark_measures.asymmetry(rotated[None])[0] == pytest.approx(0.0, abs=1e-12)
    # moving one eye up makes the face asymmetric; the mirror map is an involution
    moved = pts.copy()
    moved[36:42, 1] -= 5
    assert landmark_measures.asymmetry(moved[None])[0] > 0.01
    assert (landmark_measures.MIRROR_68[landmark_measures.MIRROR_68] == np.arange(68)).all()
    w = np.linalg.norm(pts[15] - pts[1])
    hgt = np.linalg.norm(pts[51] - (pts[21] + pts[22]) / 2)
    assert landmark_measures.fwhr(c)[0] == pytest.approx(w / hgt)
    with pytest.raises(PsychofaceError, match="dlib68"):
        landmark_measures.fwhr(np.zeros((2, 5, 2)))


def _dlib68_frontal():
    """A symmetric 68-point configuration about x = 100 (left points mirrored onto the right)."""
    rng = np.random.default_rng(0)
    pts = np.zeros((68, 2))
    mirror = landmark_measures.MIRROR_68
    for i in range(68):
        j = mirror[i]
        if i < j:
            p = np.array([100 - rng.uniform(5, 60), rng.uniform(40, 180)])
            pts[i], pts[j] = p, [200 - p[0], p[1]]
        elif i == j:
            pts[i] = [100, rng.uniform(40, 180)]
    # a plausible layout for the points the measures use
    pts[[1, 15], 1] = 90
    pts[51] = [100, 150]
    pts[[21, 22], 1] = 70
    pts[30] = [100, 120]
    pts[36:42, 1] = 80
    pts[42:48, 1] = 80
    return pts


def test_colour_and_luminance_match_scikit_image():
    skimage = pytest.importorskip("skimage.color")
    rgb = np.random.default_rng(2).integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    np.testing.assert_allclose(image_measures.rgb_to_lab(rgb), skimage.rgb2lab(rgb), atol=1e-3)
    img = Image.fromarray(rgb)
    m = image_measures.measure_image(img)
    Y = image_measures.relative_luminance(rgb)
    assert m["luminance"] == pytest.approx(Y.mean())
    assert m["rms_contrast"] == pytest.approx(Y.std() / Y.mean())
    assert "face_size" not in m
    from scipy import ndimage

    assert m["sharpness"] == pytest.approx(ndimage.laplace(Y).var())


def test_region_masks_follow_the_landmarks():
    pts = _dlib68_frontal()
    face, skin = image_measures.region_masks(pts, (200, 200))
    assert face.sum() > skin.sum() > 0
    m = image_measures.measure_image(Image.new("RGB", (200, 200), (128, 128, 128)), pts)
    assert m["face_size"] == pytest.approx(face.mean())
    assert m["rms_contrast"] == pytest.approx(0.0, abs=1e-12)


def test_metadata_matching_and_checks(tmp_path):
    f = tmp_path / "meta.csv"
    f.write_text("stimulus,sex,age\nface_1.jpg,f,20\nface_2,m,31\nface_3,m,x\n")
    meta = table.load_metadata(f, ["face_1", "face_2", "face_3", "face_4"])
    assert meta.loc["face_1", "sex"] == "f" and not pd.api.types.is_numeric_dtype(meta["age"])
    assert pd.isna(meta.loc["face_4", "sex"])
    with pytest.raises(PsychofaceError, match="closest: face1"):
        table.load_metadata(f, ["face1", "face7"])
    with pytest.raises(PsychofaceError, match="closest: sex"):
        table.load_metadata(f, ["face_1"], columns=["sexx"])
    t = pd.DataFrame({"k": [1.0] * 10, "g": ["a"] * 9 + ["b"], "h": ["a"] * 7 + ["b"] * 3})
    with pytest.raises(PsychofaceError, match="'k' is constant"):
        table.check_properties(t, {"k": "continuous"})
    with pytest.raises(PsychofaceError, match="single face"):
        table.check_properties(t, {"g": "categorical"})
    with pytest.raises(PsychofaceError, match="fewer than 5"):
        table.check_properties(t, {"h": "categorical"})
