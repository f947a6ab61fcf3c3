"""predict's `control`: properties regressed out of features and ratings inside each training fold."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import RidgeCV

from psychoface.analyses.predict import DEFAULT_ALPHAS, predict_ratings
from psychoface.errors import PsychofaceError


def _data(seed=0, n=60, f=30):
    rng = np.random.default_rng(seed)
    sex = (rng.random(n) < 0.5).astype(float)
    age = rng.normal(size=n)
    X = np.column_stack([sex, age]) @ rng.normal(size=(2, f)) + rng.normal(size=(n, f))
    y = 2 * sex + X[:, 0] + rng.normal(size=n)
    ids = [f"s{i}" for i in range(n)]
    return X, pd.DataFrame({"trust": y}, index=ids), pd.DataFrame({"sex": sex, "age": age}, index=ids)


def test_control_matches_a_per_fold_scikit_learn_pipeline():
    X, Y, C = _data()
    res, pred = predict_ratings(X, Y, folds=5, n_permutations=0, n_bootstrap=0, control=C, return_predictions=True)
    c1 = np.column_stack([np.ones(len(C)), C.to_numpy()])
    y = Y["trust"].to_numpy()
    ref_pred, ref_obs = np.zeros(len(y)), np.zeros(len(y))
    for k in range(5):
        test = (pred["fold"] == k).to_numpy()
        train = ~test
        B = np.linalg.pinv(c1[train])
        Xr = X - c1 @ (B @ X[train])
        yr = y - c1 @ (B @ y[train])
        scale = ((Xr[train] - Xr[train].mean(0)) ** 2).sum() / train.sum()
        model = RidgeCV(alphas=DEFAULT_ALPHAS * scale).fit(Xr[train], yr[train])
        ref_pred[test] = model.predict(Xr[test])
        ref_obs[test] = yr[test]
    np.testing.assert_allclose(pred["predicted"] - Y["trust"].mean(), ref_pred, atol=1e-8)
    np.testing.assert_allclose(pred["observed"] - Y["trust"].mean(), ref_obs, atol=1e-8)
    assert res["r"].iloc[0] == pytest.approx(np.corrcoef(ref_pred, ref_obs)[0, 1], abs=1e-10)
    assert "regressed out" in res.attrs["psychoface"]["control"]


def test_control_removes_what_the_properties_carry():
    rng = np.random.default_rng(3)
    n = 120
    sex = (rng.random(n) < 0.5).astype(float)
    X = np.outer(sex, rng.normal(size=40)) + rng.normal(size=(n, 40))  # features carry sex only
    Y = pd.DataFrame({"attractive": 3 * sex + rng.normal(size=n)})  # ratings carry sex only
    plain = predict_ratings(X, Y, folds=5, n_permutations=99, n_bootstrap=0)
    ctrl = predict_ratings(X, Y, folds=5, n_permutations=99, n_bootstrap=0, control=sex)
    assert plain["r"].iloc[0] > 0.7 and plain["p"].iloc[0] == pytest.approx(0.01)
    assert abs(ctrl["r"].iloc[0]) < 0.25 and ctrl["p"].iloc[0] > 0.05


def test_control_bad_input():
    X, Y, C = _data()
    C.iloc[3, 1] = np.nan
    with pytest.raises(PsychofaceError, match="stimulus 's3' has no value of property 'age'"):
        predict_ratings(X, Y, folds=5, n_permutations=0, n_bootstrap=0, control=C)
    with pytest.raises(PsychofaceError, match="one row per stimulus"):
        predict_ratings(X, Y, folds=5, n_permutations=0, n_bootstrap=0, control=np.zeros(5))
