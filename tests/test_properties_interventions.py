"""Interventions, paired tests, paired conditions and the readout for edited images."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from scipy import stats
from sklearn.linear_model import RidgeCV

from psychoface.analyses.properties import conditions, edits, interventions, paired, readout
from psychoface.errors import PsychofaceError


def _faces(n=12, size=32, seed=0):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(60, 190, size=(size, size, 3), dtype=np.uint8)) for _ in range(n)]


class MeanNet(torch.nn.Module):
    """Output = mean of the input pixels per image: a luminance shift of s moves it by exactly s."""

    def __init__(self):
        super().__init__()
        self.pool = torch.nn.AdaptiveAvgPool2d(1)
        self.head = torch.nn.Flatten()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return self.head(self.pool(x.mean(dim=1, keepdim=True)))


class _Loaded:
    def __init__(self):
        self.model = MeanNet().eval()
        self.transform = lambda img: torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)


def test_luminance_intervention_on_a_network_of_known_response():
    faces = _faces()
    response = readout.NetworkResponse(_Loaded(), "head")
    edit = edits.make_edit("luminance", strengths=[-0.1, 0.1, 0.2])
    changes = interventions.run_interventions(lambda i: faces[i], [f"f{i}" for i in range(12)], response,
                                              [edit, edits.make_edit("mirror")], batch_size=5,
                                              output_names=["mean"])
    lum = changes[changes.intervention == "luminance"]
    # pixel values lie in [60, 190], so no shift clips: the change is the shift up to uint8 rounding
    np.testing.assert_allclose(lum["change"], lum["strength"], atol=1 / 255)
    mir = changes[changes.intervention == "mirror"]
    np.testing.assert_allclose(mir["change"], 0.0, atol=1e-6)
    tests = interventions.intervention_tests(changes, n_permutations=199, seed=0)
    row = tests[(tests.intervention == "luminance") & (tests.strength == 0.2)].iloc[0]
    assert row["mean_change"] == pytest.approx(0.2, abs=1 / 255) and row["p"] == pytest.approx(1 / 200)
    assert tests[tests.intervention == "mirror"]["p"].iloc[0] == pytest.approx(1.0)
    dose = interventions.dose_response(changes, n_permutations=199)
    assert list(dose["intervention"]) == ["luminance"]
    assert dose["slope"].iloc[0] == pytest.approx(1.0, abs=0.02)


def test_paired_tests_match_scipy():
    rng = np.random.default_rng(4)
    d = pd.DataFrame({"a": rng.normal(0.3, 1, size=40), "b": rng.normal(0, 1, size=40)})
    res = paired.paired_tests(d, n_permutations=999, seed=1)
    for col, row in zip("ab", res.itertuples()):
        assert row.p_wilcoxon == pytest.approx(stats.wilcoxon(d[col]).pvalue)
        t = stats.ttest_1samp(d[col], 0)
        assert (row.ci_low, row.ci_high) == pytest.approx(tuple(t.confidence_interval()))
        assert row.d_z == pytest.approx(d[col].mean() / d[col].std(ddof=1))
        assert abs(row.p - t.pvalue) < 0.05  # the sign-flip test agrees with the t test on normal data
    # exact sign-flip null on 6 differences: every sign pattern enumerated
    small = np.array([1.0, 2.0, 0.5, 3.0, 1.5, 2.5])
    signs = np.array(np.meshgrid(*[[-1.0, 1.0]] * 6)).reshape(6, -1).T
    null = paired.sign_flip_null(small, signs)
    assert ((np.abs(null) >= small.mean() - 1e-12).sum()) == 2


def test_edits_need_landmarks_and_chimeras_are_symmetric():
    img = _faces(1, size=40)[0]
    with pytest.raises(PsychofaceError, match="needs landmarks"):
        interventions.run_interventions(lambda i: img, ["x"], lambda ims: np.zeros((len(ims), 1)),
                                        [edits.make_edit("chimera_left")])
    pts = np.zeros((68, 2))
    pts[:, 0], pts[:, 1] = 20.0, 20.0
    pts[36:42] = [12, 15]
    pts[42:48] = [28, 15]
    out = np.asarray(edits.chimera_left(img, pts, None))
    np.testing.assert_array_equal(out[:, 21:], out[:, 19:0:-1][:, : out.shape[1] - 21])
    np.testing.assert_array_equal(out[:, :20], np.asarray(img)[:, :20])
    assert np.asarray(edits.discs(img, pts, 0.2))[20, 20].tolist() == [128, 128, 128]  # nostrils 31, 35
    with pytest.raises(PsychofaceError, match="unknown intervention"):
        edits.make_edit("tattoo")


def test_readout_matches_scikit_learn_ridgecv():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 15))
    Y = np.column_stack([X[:, 0] + rng.normal(size=40), X[:, 1] - X[:, 2] + 0.1 * rng.normal(size=40)])
    fit = readout.fit_readout(X, Y, chunk_size=4)
    scale = ((X - X.mean(0)) ** 2).sum() / 40
    for j in range(2):
        ref = RidgeCV(alphas=readout.DEFAULT_ALPHAS * scale).fit(X, Y[:, j])
        assert fit.alpha_relative[j] * scale == pytest.approx(ref.alpha_)
        np.testing.assert_allclose(fit.weights[:, j], ref.coef_, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(fit(X)[:, j], ref.predict(X), rtol=1e-6, atol=1e-9)


def test_paired_conditions_network_beside_humans():
    rng = np.random.default_rng(2)
    ids = [f"p{i}_{c}" for i in range(20) for c in ("neutral", "smile")]
    meta = pd.DataFrame({"person": [i.split("_")[0] for i in ids], "expr": [i.split("_")[1] for i in ids]},
                        index=pd.Index(ids, name="stimulus"))
    smile = (meta.expr == "smile").to_numpy(float)
    outputs = pd.DataFrame({"net happy": 2 * smile + rng.normal(size=40)}, index=ids)
    humans = pd.DataFrame({"happy": 10 * smile + rng.normal(size=40)}, index=ids)
    res = conditions.paired_conditions(outputs, humans, meta, "person", "expr", ["neutral", "smile"],
                                       n_permutations=199)
    assert list(res["source"]) == ["network", "humans"] and res["contrast"].iloc[0] == "smile - neutral"
    assert res["p"].tolist() == pytest.approx([1 / 200, 1 / 200]) and res["n"].tolist() == [20, 20]
    assert res["mean_change"].iloc[1] == pytest.approx(10, abs=1)
    with pytest.raises(PsychofaceError, match="exactly two"):
        conditions.paired_conditions(outputs, None, meta, "person", "expr", ["neutral", "frown"])


def test_a_face_without_landmarks_gets_missing_changes_under_landmark_edits():
    faces = _faces(3, size=40)
    pts = np.full((3, 68, 2), 20.0)
    jaw = np.linspace(np.pi, 2 * np.pi, 17)  # an outline: jaw along the lower arc, brows along the upper one
    pts[:, :17] = np.column_stack([20 + 15 * np.cos(jaw), 20 - 15 * np.sin(jaw)])
    brows = np.linspace(0.2, np.pi - 0.2, 10)
    pts[:, 17:27] = np.column_stack([20 - 12 * np.cos(brows), 20 - 12 * np.sin(brows)])
    pts[1] = np.nan  # detection found no face in image 1
    changes = interventions.run_interventions(lambda i: faces[i], ["a", "b", "c"],
                                              lambda ims: np.array([[np.asarray(im).mean()] for im in ims]),
                                              [edits.make_edit("chimera_left"), edits.make_edit("mirror")],
                                              landmarks=pts)
    chim = changes[changes.intervention == "chimera_left"].set_index("stimulus")["change"]
    assert np.isnan(chim["b"]) and np.isfinite(chim[["a", "c"]]).all()
    assert changes[changes.intervention == "mirror"]["change"].notna().all()
    from psychoface.analyses.properties.image_measures import image_measures

    table = image_measures(faces, ["a", "b", "c"], pts)
    assert table.loc["b"].isna().all() and table.loc["a"].notna().all()
