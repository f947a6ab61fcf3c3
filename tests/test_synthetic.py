"""The synthetic face study: files, determinism, the known rating model and its true reliabilities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from PIL import Image

from psychoface.analyses.inference import spearman_brown
from psychoface.data.synthetic import (
    ATTRIBUTES,
    PARAMETERS,
    SCALE,
    AttributeModel,
    face_parameters,
    generate_study,
    render_face,
    simulate_ratings,
    true_reliability,
    true_scores,
)
from psychoface.errors import PsychofaceError


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _cube(trials: pd.DataFrame, attribute: str) -> np.ndarray:
    """Ratings of one attribute as an array faces x raters."""
    wide = trials[trials["attribute"] == attribute].pivot(index="stimulus", columns="rater", values="rating")
    return wide.to_numpy(float)


def _sb_split_half_by_raters(y: np.ndarray, rng: np.random.Generator, n_splits: int) -> float:
    """Mean Spearman-Brown corrected split-half reliability, raters split in halves (same for all faces)."""
    k = y.shape[1]
    out = []
    for _ in range(n_splits):
        perm = rng.permutation(k)
        r = np.corrcoef(y[:, perm[: k // 2]].mean(1), y[:, perm[k // 2:]].mean(1))[0, 1]
        out.append(2 * r / (1 + r))
    return float(np.mean(out))


def _sb_split_half_within(y: np.ndarray, rng: np.random.Generator, n_splits: int) -> float:
    """Mean Spearman-Brown corrected split-half reliability, each face's ratings split independently."""
    n, k = y.shape
    out = []
    for _ in range(n_splits):
        order = np.argsort(rng.random((n, k)), axis=1)
        shuffled = np.take_along_axis(y, order, axis=1)
        r = np.corrcoef(shuffled[:, : k // 2].mean(1), shuffled[:, k // 2:].mean(1))[0, 1]
        out.append(2 * r / (1 + r))
    return float(np.mean(out))


def test_study_files_images_and_tables(tmp_path):
    study = generate_study(tmp_path / "demo", n_faces=6, n_raters=4, image_size=64, seed=3)
    names = sorted(p.name for p in (tmp_path / "demo" / "images").iterdir())
    assert names == [f"face_00{i}.png" for i in range(1, 7)]
    assert study.stimuli == [f"face_00{i}" for i in range(1, 7)]
    for path in study.image_paths:
        with Image.open(path) as im:
            assert im.format == "PNG" and im.mode == "RGB" and im.size == (64, 64)

    trials = pd.read_csv(study.ratings_path, dtype={"stimulus": str, "rater": str})
    assert list(trials.columns) == ["stimulus", "attribute", "rating", "rater"]
    assert len(trials) == 6 * 4 * len(ATTRIBUTES)
    # fully crossed: every rater rates every face on every attribute exactly once
    assert not trials.duplicated(["stimulus", "attribute", "rater"]).any()
    assert set(trials["attribute"]) == set(ATTRIBUTES) and trials["rater"].nunique() == 4
    assert set(trials["stimulus"]) == set(study.stimuli)
    assert trials["rating"].between(*SCALE).all()
    assert (trials["rating"] == trials["rating"].round()).all()

    params = pd.read_csv(study.parameters_path, index_col="stimulus")
    assert list(params.columns) == list(PARAMETERS)
    np.testing.assert_allclose(params.to_numpy(), study.parameters.to_numpy(), atol=1e-12)
    assert study.true_scores.shape == (6, len(ATTRIBUTES))
    assert list(study.reliability["attribute"]) == list(ATTRIBUTES)


def test_same_seed_same_bytes_different_seed_different(tmp_path):
    kwargs = dict(n_faces=5, n_raters=3, image_size=48)
    a = _files(generate_study(tmp_path / "a", seed=11, **kwargs).folder)
    b = _files(generate_study(tmp_path / "b", seed=11, **kwargs).folder)
    c = _files(generate_study(tmp_path / "c", seed=12, **kwargs).folder)
    assert a == b
    assert a.keys() == c.keys()
    assert a["ratings.csv"] != c["ratings.csv"] and a["face_parameters.csv"] != c["face_parameters.csv"]
    assert all(a[f"images/face_00{i}.png"] != c[f"images/face_00{i}.png"] for i in range(1, 6))


def test_default_image_size_and_prefix_stable_parameters(tmp_path):
    study = generate_study(tmp_path / "s", n_faces=2, n_raters=2)
    with Image.open(study.image_paths[0]) as im:
        assert im.size == (224, 224) and im.mode == "RGB"
    # face i has the same parameters whatever the number of faces
    pd.testing.assert_frame_equal(face_parameters(50, seed=4).iloc[:10], face_parameters(10, seed=4),
                                  check_like=False, check_exact=True)


def test_existing_study_needs_overwrite_and_stale_images_go(tmp_path):
    generate_study(tmp_path, n_faces=5, n_raters=2, image_size=32)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(PsychofaceError, match="already holds a study"):
        generate_study(tmp_path, n_faces=3, n_raters=2, image_size=32)
    generate_study(tmp_path, n_faces=3, n_raters=2, image_size=32, overwrite=True)
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["face_001.png", "face_002.png", "face_003.png"]
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("kwargs, message", [
    ({"n_faces": 1}, "n_faces=1"),
    ({"n_raters": 1}, "n_raters=1"),
    ({"image_size": 8}, "image_size=8"),
    ({"seed": -1}, "seed=-1"),
    ({"attributes": ["happy", "memorable"]}, "unknown synthetic attribute 'memorable'"),
    ({"attributes": {"x": AttributeModel({"ear_size": 1.0}, 5.0, 5.0)}}, "unknown parameter"),
    ({"attributes": {"x": AttributeModel({"eye_size": 0.0}, 5.0, 5.0)}}, "all weights are zero"),
])
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(PsychofaceError, match=message):
        generate_study(tmp_path / "s", **{"n_faces": 3, "n_raters": 2, "image_size": 32, **kwargs})
    assert not (tmp_path / "s" / "ratings.csv").exists()


def test_true_scores_follow_the_stated_formula():
    params = face_parameters(30, seed=1)
    model = AttributeModel({"eye_size": 2.0, "nose_length": -1.0}, true_sd=9.0, noise_sd=4.0)
    got = true_scores(params, {"custom": model})["custom"].to_numpy()
    expected = 50 + 9.0 * (2.0 * params["eye_size"] - params["nose_length"]).to_numpy() / np.sqrt(5.0)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    # the default attributes have the population SD they state
    big = true_scores(face_parameters(20000, seed=2))
    for name, m in ATTRIBUTES.items():
        assert big[name].std() == pytest.approx(m.true_sd, rel=0.03)
        assert big[name].mean() == pytest.approx(50.0, abs=0.3)


def test_true_reliability_formulas():
    rel = true_reliability(n_raters=20).set_index("attribute")
    for name, m in ATTRIBUTES.items():
        s2, t2, e2 = m.true_sd**2, m.rater_bias_sd**2, m.noise_sd**2 + 1 / 12
        row = rel.loc[name]
        assert row["icc_c1"] == pytest.approx(s2 / (s2 + e2))
        assert row["icc_ck"] == pytest.approx(float(spearman_brown(s2 / (s2 + e2), 20)))
        assert row["icc_ak"] == pytest.approx(20 * s2 / (20 * s2 + t2 + e2))
    # the default attributes span reliability, happy most, attractive least
    assert list(rel["icc_c1"].sort_values(ascending=False).index) == ["happy", "trustworthy", "dominant", "attractive"]
    assert rel.loc["happy", "icc_ck"] > 0.95 and rel.loc["attractive", "icc_ck"] < 0.75


def test_happy_tracks_mouth_curvature_in_the_means(tmp_path):
    study = generate_study(tmp_path, n_faces=48, n_raters=20, image_size=32, seed=0)
    trials = pd.read_csv(study.ratings_path, dtype={"stimulus": str})
    means = trials.pivot_table(index="stimulus", columns="attribute", values="rating", aggfunc="mean")
    means = means.reindex(study.stimuli)
    r_happy = np.corrcoef(means["happy"], study.parameters["mouth_curvature"])[0, 1]
    r_attr = np.corrcoef(means["attractive"], study.parameters["mouth_curvature"])[0, 1]
    assert r_happy > 0.85  # population value .954 * sqrt(.978) = .94
    assert abs(r_attr) < 0.4  # attractive does not depend on the mouth
    # means of the ratings are close to the true scores (clipping is rare)
    assert np.corrcoef(means["happy"], study.true_scores["happy"])[0, 1] > 0.97


def test_empirical_split_half_matches_true_reliability():
    """10,000 faces x 20 raters: split-half reliabilities computed with numpy agree with the analytic
    values to within about 4 standard errors (SE about .006 for the least reliable attribute)."""
    params = face_parameters(10000, seed=5)
    trials = simulate_ratings(params, n_raters=20, seed=5)
    assert (trials["rating"].isin(SCALE)).mean() < 0.005  # clipping, ignored by the analytic values, is rare
    rel = true_reliability(n_raters=20).set_index("attribute")
    rng = np.random.default_rng(0)
    for name in ATTRIBUTES:
        y = _cube(trials, name)
        assert _sb_split_half_by_raters(y, rng, 20) == pytest.approx(rel.loc[name, "icc_ck"], abs=0.025)
        assert _sb_split_half_within(y, rng, 20) == pytest.approx(rel.loc[name, "split_half_within"], abs=0.025)
    # the two definitions differ where rater bias is large relative to true variance
    assert rel.loc["attractive", "icc_ck"] - rel.loc["attractive", "split_half_within"] > 0.03


def test_icc_agrees_with_pingouin():
    """pingouin's ICC(C,1), ICC(C,k), ICC(A,1), ICC(A,k) (McGraw & Wong, 1996) estimate the model's
    icc_c1, icc_ck, icc_a1, icc_ak (600 faces x 40 raters)."""
    params = face_parameters(600, seed=8)
    trials = simulate_ratings(params, n_raters=40, attributes=["trustworthy"], seed=8)
    icc = pg.intraclass_corr(trials, targets="stimulus", raters="rater", ratings="rating").set_index("Type")
    rel = true_reliability(["trustworthy"], n_raters=40).iloc[0]
    for form, column, tol in [("C,1", "icc_c1", 0.03), ("C,k", "icc_ck", 0.01), ("A,1", "icc_a1", 0.04),
                              ("A,k", "icc_ak", 0.015)]:
        assert icc.loc[f"ICC({form})", "ICC"] == pytest.approx(rel[column], abs=tol), form


def _mouth_rows(img: Image.Image) -> tuple[float, float]:
    """Mean row of the mouth's red pixels at its centre and at its corners."""
    a = np.asarray(img).astype(int)
    h, w, _ = a.shape
    red = (a[..., 0] > 110) & (a[..., 1] < 80) & (a[..., 2] < 85)
    red[: int(0.55 * h)] = False
    red[int(0.8 * h):] = False
    ys, xs = np.nonzero(red)
    centre = np.abs(xs - xs.mean()) < 0.2 * np.ptp(xs)
    corners = np.abs(xs - xs.mean()) > 0.35 * np.ptp(xs)
    return ys[centre].mean(), ys[corners].mean()


def test_images_show_the_parameters():
    base = {name: 0.0 for name in PARAMETERS} | {"skin_smoothness": 3.0}
    smile = _mouth_rows(render_face(base | {"mouth_curvature": 2.5}, image_size=160))
    frown = _mouth_rows(render_face(base | {"mouth_curvature": -2.5}, image_size=160))
    assert smile[1] < smile[0] - 2  # corners above the centre (rows grow downwards)
    assert frown[1] > frown[0] + 2

    def face_lightness(z):
        a = np.asarray(render_face(base | {"skin_tone": z}, image_size=96), dtype=float)
        return a[55:65, 30:40].mean()  # a cheek patch

    assert face_lightness(2.0) > face_lightness(0.0) + 20 > face_lightness(-2.0) + 40


@pytest.mark.slow
def test_split_half_unbiased_over_replications():
    """300 replicate studies of 200 faces x 20 raters: the mean split-half reliabilities lie within
    4 Monte-Carlo standard errors (plus .005 for the small-sample bias of a correlation) of the
    analytic values, for both kinds of split."""
    names = list(ATTRIBUTES)
    rel = true_reliability(n_raters=20).set_index("attribute")
    rng = np.random.default_rng(2024)
    by_raters, within = [], []
    for rep in range(300):
        trials = simulate_ratings(face_parameters(200, seed=rep), n_raters=20, seed=rep)
        # simulate_ratings orders trials by rater, stimulus, attribute
        cube = trials["rating"].to_numpy(float).reshape(20, 200, len(names))
        by_raters.append([_sb_split_half_by_raters(cube[:, :, j].T, rng, 5) for j in range(len(names))])
        within.append([_sb_split_half_within(cube[:, :, j].T, rng, 5) for j in range(len(names))])
    for values, column in ((np.array(by_raters), "icc_ck"), (np.array(within), "split_half_within")):
        mc_se = values.std(axis=0, ddof=1) / np.sqrt(len(values))
        error = np.abs(values.mean(axis=0) - rel.loc[names, column].to_numpy())
        assert (error < 4 * mc_se + 0.005).all(), (column, error, mc_se)
