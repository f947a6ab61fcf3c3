"""Cross-validated ridge prediction against scikit-learn, scipy and plain loops; null simulation."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.preprocessing import StandardScaler
from statsmodels.stats.multitest import multipletests

from psychoface.analyses import predict as predict_module
from psychoface.analyses.predict import DEFAULT_ALPHAS, predict_ratings
from psychoface.errors import PsychofaceError

SHARED = Path(__file__).resolve().parents[2] / "shared"


def _data(n=48, p=150, seed=0, missing=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)).astype(np.float32)
    X[:, 3] = 1.5  # constant feature
    X[:, 4] = 0.0
    X[0, 4] = 2.0  # constant in every training fold that leaves out stimulus 0
    w = rng.standard_normal(p) * (rng.random(p) < 0.2)
    Y = pd.DataFrame(
        {
            "signal": X.astype(float) @ w + rng.standard_normal(n) * 2 + 50,
            "noise": rng.standard_normal(n) * 10 + 20,
        },
        index=[f"face_{i:03d}" for i in range(n)],
    )
    if missing:
        Y.iloc[[2, 5, 11, 30], 1] = np.nan
    return X, Y


def _sklearn_fold(X, y, train, test, alpha_grid, standardize=False):
    """Reference: StandardScaler + RidgeCV (leave-one-out) on the training fold, Ridge(alpha) predicts.

    Returns the chosen penalty relative to trace(K_train) / n_train (psychoface's scale) and the
    test-fold predictions."""
    train, test = np.flatnonzero(train), np.flatnonzero(test)
    Xd = X.astype(np.float64)
    scaler = StandardScaler(with_std=standardize).fit(Xd[train])
    Xs = scaler.transform(Xd[train])
    scale = np.einsum("ij,ij->", Xs, Xs) / len(train)
    alpha = RidgeCV(alphas=alpha_grid * scale).fit(Xs, y[train]).alpha_
    pred = Ridge(alpha=alpha).fit(Xs, y[train]).predict(scaler.transform(Xd[test]))
    return alpha / scale, pred


@pytest.mark.parametrize("n,p,standardize", [(48, 150, True), (60, 12, True), (48, 150, False)])
def test_out_of_fold_predictions_and_alphas_match_sklearn(n, p, standardize):
    X, Y = _data(n, p)
    res, pred = predict_ratings(
        X, Y, folds=5, n_permutations=0, n_bootstrap=0, standardize=standardize,
        return_predictions=True, chunk_size=37,
    )
    assert list(pred.columns) == ["stimulus", "attribute", "repeat", "fold", "alpha_relative", "observed",
                                  "predicted"]
    for name in Y.columns:
        d = pred[pred.attribute == name].set_index("stimulus").loc[Y.index]
        y = Y[name].to_numpy()
        np.testing.assert_array_equal(d.observed.to_numpy(), y)
        for k in range(5):
            test = d.fold.to_numpy() == k
            alpha, ref = _sklearn_fold(X, y, ~test, test, DEFAULT_ALPHAS, standardize)
            assert d.alpha_relative.to_numpy()[test] == pytest.approx(alpha, rel=1e-9)
            np.testing.assert_allclose(d.predicted.to_numpy()[test], ref, atol=1e-6, rtol=0)
        row = res.set_index("attribute").loc[name]
        assert row.r == pytest.approx(stats.pearsonr(y, d.predicted).statistic, abs=1e-12)
        assert row.r2 == pytest.approx(r2_score(y, d.predicted), abs=1e-12)
        assert row.rmse == pytest.approx(np.sqrt(mean_squared_error(y, d.predicted)), abs=1e-10)
        assert row.alpha_relative_median == pytest.approx(np.median(d.groupby("fold").alpha_relative.first()))
        assert row.alpha_relative_median in DEFAULT_ALPHAS  # a grid value (odd number of folds)
    # folds: 5 near-equal parts
    assert sorted(pred[pred.attribute == "signal"].fold.value_counts()) == [n // 5] * (5 - n % 5) + [
        n // 5 + 1
    ] * (n % 5)


def test_signal_is_found_and_noise_is_not():
    X, Y = _data(80, 120, seed=3)
    res = predict_ratings(X, Y, folds=5, n_permutations=199, n_bootstrap=500)
    sig, noise = res.set_index("attribute").loc["signal"], res.set_index("attribute").loc["noise"]
    assert sig.r > 0.5 and sig.p == pytest.approx(1 / 200) and sig.ci_low > 0.3
    assert noise.p > 0.05
    np.testing.assert_allclose(res.p_corr, multipletests(res.p, method="holm")[1])


def test_permutation_p_equals_a_refitting_loop_with_the_same_permutations():
    X, Y = _data(36, 60, seed=5)
    Y["weak"] = Y["noise"] + 0.3 * Y["signal"]
    N, seed, folds = 39, 11, 4
    res, pred = predict_ratings(
        X, Y, folds=folds, n_permutations=N, n_bootstrap=0, seed=seed, return_predictions=True
    )
    # the permutations predict_ratings draws: second child of default_rng(seed)
    perms = np.random.default_rng(seed).spawn(3)[1].permuted(np.tile(np.arange(len(Y)), (N, 1)), axis=1)
    fold = pred[pred.attribute == "signal"].set_index("stimulus").loc[Y.index].fold.to_numpy()
    for name in Y.columns:
        y = Y[name].to_numpy()
        null = []
        for perm in perms:
            yp = y[perm]
            out = np.empty(len(y))
            for k in range(folds):
                test = fold == k
                out[test] = _sklearn_fold(X, yp, ~test, test, DEFAULT_ALPHAS)[1]
            null.append(np.corrcoef(out, yp)[0, 1])
        r = res.set_index("attribute").loc[name].r
        expected = (np.sum(np.array(null) >= r) + 1) / (N + 1)
        assert res.set_index("attribute").loc[name].p == pytest.approx(expected)
    assert res.p.nunique() > 1  # the check is not only about the smallest possible p


def test_repeats_average_r_and_bootstrap_ci_matches_resampling_pairs(monkeypatch):
    monkeypatch.setattr(predict_module, "_BOOTSTRAP_BLOCK_ELEMENTS", 40 * 64)  # resamples in 5 blocks
    X, Y = _data(40, 80, seed=7)
    B, seed = 300, 4
    res, pred = predict_ratings(
        X, Y, folds=4, repeats=2, n_permutations=0, n_bootstrap=B, ci_level=0.9, seed=seed,
        return_predictions=True,
    )
    assert np.isnan(res.p).all() and np.isnan(res.p_corr).all()
    draws = np.random.default_rng(seed).spawn(3)[2].integers(0, len(Y), size=(B, len(Y)))
    for name in Y.columns:
        d = pred[pred.attribute == name]
        reps = [d[d.repeat == r].set_index("stimulus").loc[Y.index] for r in (0, 1)]
        assert not np.array_equal(reps[0].fold, reps[1].fold)  # fresh splits per repeat
        r = np.mean([stats.pearsonr(x.observed, x.predicted).statistic for x in reps])
        boot = [
            np.mean([np.corrcoef(x.observed.to_numpy()[i], x.predicted.to_numpy()[i])[0, 1] for x in reps])
            for i in draws
        ]
        row = res.set_index("attribute").loc[name]
        assert row.r == pytest.approx(r, abs=1e-12)
        assert row.ci_low == pytest.approx(np.percentile(boot, 5), abs=1e-10)
        assert row.ci_high == pytest.approx(np.percentile(boot, 95), abs=1e-10)
    assert res.attrs["psychoface"]["repeats"] == 2


def test_missing_ratings_are_dropped_per_attribute():
    X, Y = _data(50, 90, missing=True)
    res, pred = predict_ratings(X, Y, folds=5, n_permutations=9, n_bootstrap=50, return_predictions=True)
    assert res.n.tolist() == [50, 46]
    d = pred[pred.attribute == "noise"].set_index("stimulus")
    assert len(d) == 46 and not set(Y.index[[2, 5, 11, 30]]) & set(d.index)
    y = Y["noise"].dropna()
    d = d.loc[y.index]
    Xs = X[~Y["noise"].isna().to_numpy()]
    for k in range(5):
        test = d.fold.to_numpy() == k
        assert test.sum() in (9, 10)
        _, ref = _sklearn_fold(Xs, y.to_numpy(), ~test, test, DEFAULT_ALPHAS)
        np.testing.assert_allclose(d.predicted.to_numpy()[test], ref, atol=1e-6)


def test_memmap_chunking_and_seed_reproducibility(tmp_path):
    X, Y = _data(30, 70)
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    kw = dict(folds=3, n_permutations=19, n_bootstrap=100, seed=9)
    a = predict_ratings(mm, Y, chunk_size=8, **kw)
    b = predict_ratings(X, Y, chunk_size=4096, **kw)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-10)
    c = predict_ratings(X, Y, **{**kw, "seed": 10})
    assert not np.allclose(a.r, c.r)


def test_noise_ceiling_and_attrs():
    X, Y = _data(30, 40)
    res = predict_ratings(
        X, Y, folds=3, n_permutations=9, n_bootstrap=20, noise_ceiling={"signal": 0.8, "noise": -0.1},
        attributes=["noise", "signal"], correction="fdr_bh",
    )
    assert res.attribute.tolist() == ["noise", "signal"]
    row = res.set_index("attribute")
    assert row.loc["signal", "noise_ceiling"] == 0.8
    assert row.loc["signal", "r_normalized"] == pytest.approx(row.loc["signal", "r"] / 0.8)
    assert np.isnan(row.loc["noise", "r_normalized"])
    assert row.loc["signal", "note"] == "" and row.loc["noise", "note"].startswith("noise ceiling -0.1 is not positive")
    assert res.attrs["psychoface"]["noise_ceiling_method"] == "supplied by the caller (method not stated)"
    info = res.attrs["psychoface"]
    for key in ("analysis", "seed", "folds", "repeats", "inner_folds", "alphas", "standardisation",
                "n_permutations", "n_bootstrap", "ci_level", "ci_method", "p_method", "correction", "family"):
        assert key in info
    assert info["correction"] == "Benjamini-Hochberg" and info["n_permutations"] == 9
    assert info["alphas"] == pytest.approx(DEFAULT_ALPHAS.tolist())
    none = predict_ratings(X, Y, folds=3, n_permutations=0, n_bootstrap=0)
    assert none.noise_ceiling.isna().all() and none.r_normalized.isna().all()
    assert none.note.str.startswith("no noise ceiling: it needs trial-level ratings").all()
    assert none.attrs["psychoface"]["noise_ceiling_method"].startswith("none")


def test_noise_ceiling_from_split_half_states_its_method_and_missing_reasons():
    from psychoface.analyses.reliability import NOISE_CEILING_METHOD, split_half_reliability

    X, Y = _data(30, 40)
    Y["third"] = Y["noise"] * 2
    rng = np.random.default_rng(4)
    trials = pd.DataFrame({
        "stimulus": np.tile(np.repeat(Y.index, 6), 2),
        "attribute": np.repeat(["signal", "noise"], 180),
        # signal: ratings around the mean rating (reliable); noise: pure rating noise (mean r <= 0 here)
        "rating": np.concatenate([np.repeat(Y["signal"].to_numpy(), 6) + rng.normal(0, 1, 180),
                                  rng.normal(0, 1, 180)]),
    })
    rel = split_half_reliability(trials, n_splits=20, n_bootstrap=0, seed=2)
    rel.loc[rel.attribute == "noise", "noise_ceiling"] = np.nan  # as for a reliability <= 0
    ceilings = rel.set_index("attribute")["noise_ceiling"]
    res = predict_ratings(X, Y, folds=3, n_permutations=0, n_bootstrap=0, noise_ceiling=ceilings)
    info = res.attrs["psychoface"]
    assert info["noise_ceiling_method"] == NOISE_CEILING_METHOD
    assert "Spearman, 1904" in NOISE_CEILING_METHOD and "split-half" in NOISE_CEILING_METHOD
    note = res.set_index("attribute")["note"]
    assert note["signal"] == ""
    assert note["noise"].startswith("noise ceiling undefined (the split-half reliability")
    assert note["third"].startswith("no noise ceiling given for this attribute")
    assert res.set_index("attribute").loc[["noise", "third"], "r_normalized"].isna().all()
    explicit = predict_ratings(X, Y, folds=3, n_permutations=0, n_bootstrap=0, noise_ceiling=ceilings,
                               noise_ceiling_method="ICC(1,k) square root")
    assert explicit.attrs["psychoface"]["noise_ceiling_method"] == "ICC(1,k) square root"


def test_alpha_grid_edge_choices_are_counted():
    X, Y = _data(40, 60, seed=2)
    grid = [0.3, 1.0, 3.0]  # narrow: some choices fall on its edges
    res, pred = predict_ratings(X, Y, folds=4, repeats=2, alphas=grid, n_permutations=0, n_bootstrap=0,
                                return_predictions=True)
    chosen = pred.groupby(["attribute", "repeat", "fold"]).alpha_relative.first()
    assert len(chosen) == 2 * 2 * 4 and set(chosen) <= set(grid)
    edge = res.attrs["psychoface"]["alpha_grid_edge"]
    assert edge["choices"] == 16
    assert edge["smallest"] == (chosen == 0.3).sum() and edge["largest"] == (chosen == 3.0).sum()
    assert edge["smallest"] + edge["largest"] > 0
    assert f"{edge['smallest']} of 16 attribute x fold choices at the smallest alpha (0.3)" in edge["summary"]
    medians = chosen.groupby("attribute").median()
    pd.testing.assert_series_equal(res.set_index("attribute").alpha_relative_median, medians.loc[Y.columns],
                                   check_names=False)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda X, Y: (X, Y.iloc[:10]), "features have 30 rows but the ratings have 10"),
        (lambda X, Y: (X, Y.assign(noise=3.0)), "attribute 'noise': every rating is 3"),
        (lambda X, Y: (np.where(np.arange(30)[:, None] == 4, np.nan, X), Y), "stimulus 'face_004'"),
        (lambda X, Y: (X, Y.assign(noise=["x"] + [1.0] * 29)), "stimulus 'face_000' has rating 'x'"),
        (lambda X, Y: (X, Y.set_axis(["a"] * 30)), "stimulus 'a' appears twice"),
        (lambda X, Y: (X[:, :, None], Y), "2-D array"),
    ],
)
def test_bad_input_is_one_line_error(change, message):
    X, Y = _data(30, 40)
    X, Y = change(X, Y)
    with pytest.raises(PsychofaceError, match=message) as err:
        predict_ratings(X, Y, folds=3, n_permutations=0, n_bootstrap=0)
    assert "\n" not in str(err.value)


def test_bad_settings_are_errors():
    X, Y = _data(30, 40)
    with pytest.raises(PsychofaceError, match="unknown attribute 'trust'"):
        predict_ratings(X, Y, attributes=["trust"])
    with pytest.raises(PsychofaceError, match="30 rated stimuli but folds = 40"):
        predict_ratings(X, Y, folds=40)
    Y.iloc[3:, 1] = np.nan
    with pytest.raises(PsychofaceError, match="attribute 'noise': 3 rated stimuli but folds = 10"):
        predict_ratings(X, Y)
    with pytest.raises(PsychofaceError, match="alphas"):
        predict_ratings(X, Y.iloc[:, :1], alphas=[1.0, -2.0])
    with pytest.raises(PsychofaceError, match="noise ceiling given for unknown attribute 'x'"):
        predict_ratings(X, Y.iloc[:, :1], noise_ceiling={"x": 0.5})
    with pytest.raises(PsychofaceError, match="every feature is constant"):
        predict_ratings(np.ones((30, 5)), Y.iloc[:, :1], folds=3, n_permutations=0)


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True, None])
def test_bad_seed_is_a_one_line_error(seed):
    X, Y = _data(30, 40)
    with pytest.raises(PsychofaceError, match=rf"^seed = {re.escape(repr(seed))}: must be an integer >= 0$"):
        predict_ratings(X, Y, folds=3, n_permutations=0, n_bootstrap=0, seed=seed)


@pytest.mark.omi
def test_real_omi_pixels_predict_skin_colour():
    omi = SHARED / "data" / "omi"
    if not omi.is_dir():
        pytest.skip(f"shared OMI data not found at {omi}")
    from PIL import Image

    ids = [str(i) for i in range(1, 121)]
    X = []
    for i in ids:
        with Image.open(omi / "images" / f"{i}.jpg") as im:
            im.draft("L", (64, 64))
            X.append(np.asarray(im.convert("L").resize((24, 24)), dtype=np.float32).ravel())
    Y = pd.read_csv(omi / "attribute_means.csv", index_col=0)
    Y.index = Y.index.astype(str)
    res = predict_ratings(np.array(X), Y.loc[ids, ["skin-color", "looks-like-you"]], n_permutations=99,
                          n_bootstrap=500)
    skin = res.set_index("attribute").loc["skin-color"]
    assert skin.n == 120 and skin.r > 0.3 and skin.p_corr <= 0.02


@pytest.mark.slow
def test_permutation_test_rejects_at_nominal_rate_under_the_null():
    """Random features unrelated to the ratings: P(p <= .05) = .05 exactly for N = 99 permutations."""
    runs, rejections, total = 300, 0, 0
    rng = np.random.default_rng(2024)
    for run in range(runs):
        X = rng.standard_normal((24, 40))
        Y = pd.DataFrame(rng.standard_normal((24, 3)), columns=["a", "b", "c"])
        res = predict_ratings(X, Y, folds=4, n_permutations=99, n_bootstrap=0, seed=run)
        rejections += int((res.p <= 0.05).sum())
        total += len(res)
    rate = rejections / total
    se = np.sqrt(0.05 * 0.95 / total)
    print(f"predict null rejection rate {rate:.4f} over {total} tests (MC SE {se:.4f})")
    assert abs(rate - 0.05) < 3 * se
