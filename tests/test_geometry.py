"""Representation geometry against geomstats, scikit-learn, scipy, rsatoolbox and closed forms."""

import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.linalg import sqrtm
from scipy.spatial.distance import pdist, squareform
from scipy.stats import pearsonr, spearmanr
from sklearn.covariance import ledoit_wolf_shrinkage, oas
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.manifold import trustworthiness
from sklearn.model_selection import PredefinedSplit, cross_val_predict
from sklearn.neighbors import KNeighborsRegressor
from statsmodels.stats.multitest import multipletests

from psychoface.analyses.geometry import attributes, maps, procrustes, riemannian, sphere
from psychoface.analyses.geometry.span import permutation_blocks, span_coordinates
from psychoface.analyses.predict import DEFAULT_ALPHAS
from psychoface.errors import PsychofaceError

with warnings.catch_warnings():
    warnings.simplefilter("ignore", ImportWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    from geomstats.geometry.hypersphere import Hypersphere
    from geomstats.geometry.spd_matrices import (
        SPDAffineMetric,
        SPDBuresWassersteinMetric,
        SPDLogEuclideanMetric,
        SPDMatrices,
    )
    from geomstats.learning.frechet_mean import FrechetMean


def _ids(n):
    return [f"s{i}" for i in range(n)]


def _unit(X):
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def _geomstats_mean(P):
    space = Hypersphere(P.shape[1] - 1)
    fm = FrechetMean(space, method="adaptive")
    fm.set(max_iter=2000, epsilon=1e-13)
    fm.fit(P)
    return space, fm.estimate_


# ------------------------------------------------------------------------------------------ sphere


@pytest.mark.parametrize("spread", [0.3, 1.5])
def test_karcher_mean_equals_geomstats(spread):
    rng = np.random.default_rng(1)
    P = _unit(rng.normal(size=(60, 25)) * spread + np.r_[1.0, np.zeros(24)])
    mu, _ = sphere.karcher_mean(P, tol=1e-13)
    space, ref = _geomstats_mean(P)
    assert np.abs(mu[0] - ref).max() < 1e-10
    default, _ = sphere.karcher_mean(P)  # the default tolerance: within 1e-9 of geomstats' mean
    assert np.abs(default[0] - ref).max() < 1e-9
    assert np.allclose(sphere.geodesic_distances(P, mu)[:, 0], space.metric.dist(P, ref), atol=1e-10)


def test_weighted_karcher_means_batch_equals_one_by_one():
    rng = np.random.default_rng(2)
    P = _unit(rng.normal(size=(40, 10)) + 1.0)
    W = rng.random((5, 40))
    W /= W.sum(axis=1, keepdims=True)
    batch, _ = sphere.karcher_mean(P, W)
    for b in range(5):
        one, _ = sphere.karcher_mean(P, W[b])
        assert np.abs(batch[b] - one[0]).max() < 1e-11


def test_karcher_mean_closed_forms():
    a, b = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
    mu, _ = sphere.karcher_mean(np.vstack([a, b]))
    assert np.allclose(mu[0], _unit((a + b)[None])[0])
    # points symmetric about the north pole: the mean is the pole, each at the same angle
    t = np.linspace(0, 2 * np.pi, 7)[:-1]
    P = np.c_[np.sin(0.4) * np.cos(t), np.sin(0.4) * np.sin(t), np.full(6, np.cos(0.4))]
    mu, _ = sphere.karcher_mean(P)
    assert np.allclose(mu[0], [0, 0, 1], atol=1e-12)
    assert np.allclose(sphere.geodesic_distances(P, mu), 0.4)


def test_span_reduction_equals_full_computation():
    rng = np.random.default_rng(3)
    n, D = 40, 3000
    X = np.abs(rng.normal(size=(n, D))) + rng.normal(size=(n, 1))
    U = span_coordinates(X.astype(np.float32), _ids(n))
    P = _unit(X.astype(np.float32).astype(np.float64))
    assert U.shape[1] <= n
    assert np.abs(U @ U.T - P @ P.T).max() < 1e-13
    d_span = sphere.geodesic_distances(U, sphere.karcher_mean(U)[0])
    d_full = sphere.geodesic_distances(P, sphere.karcher_mean(P)[0])
    assert np.abs(d_span - d_full).max() < 1e-12
    table = sphere.distinctiveness(X.astype(np.float32), _ids(n), "conv")
    assert np.allclose(table["distinctiveness"], d_full[:, 0], atol=1e-12)


def test_open_hemisphere():
    rng = np.random.default_rng(4)
    P = _unit(np.abs(rng.normal(size=(30, 6))))
    assert sphere.in_open_hemisphere(P)
    assert not sphere.in_open_hemisphere(np.vstack([P, -P[:1]]))
    # the mean direction fails (the point at 0 degrees is 150 degrees from it) but the hemisphere about
    # 85 degrees holds every point: only the linear program finds it
    angles = np.r_[0.0, np.full(20, np.deg2rad(170))]
    Q = np.c_[np.cos(angles), np.sin(angles)]
    assert (Q @ Q.sum(axis=0)).min() < 0
    assert sphere.in_open_hemisphere(Q)
    assert not sphere.in_open_hemisphere(np.array([[1.0, 0], [-1.0, 0]]))


def _rated(n=60, D=50, seed=5):
    rng = np.random.default_rng(seed)
    X = np.abs(rng.normal(size=(n, D)))
    X[: n // 3] += 2 * np.abs(rng.normal(size=(1, D)))
    Y = pd.DataFrame({"typical": rng.normal(size=n), "odd": rng.normal(size=n)}, index=_ids(n))
    return X, Y


def test_distinctiveness_correlations_match_scipy_and_statsmodels():
    X, Y = _rated()
    Y.iloc[3, 1] = np.nan
    d = sphere.distinctiveness(X, _ids(60))["distinctiveness"].to_numpy()
    for method, ref in (("pearson", pearsonr), ("spearman", spearmanr)):
        df = sphere.distinctiveness_correlations({"a": X, "b": X[:, ::-1] ** 2}, Y, method=method,
                                                 n_permutations=99, n_bootstrap=50, seed=1)
        ok = Y["odd"].notna().to_numpy()
        assert df.loc[0, "r"] == pytest.approx(ref(d, Y["typical"])[0], abs=1e-12)
        assert df.loc[1, "r"] == pytest.approx(ref(d[ok], Y["odd"][ok])[0], abs=1e-12)
        assert np.allclose(df["p_corr"], multipletests(df["p"], method="holm")[1])
        assert (df["ci_low"] <= df["ci_high"]).all()
        assert df.attrs["psychoface"]["family"] == "2 layers x 2 attributes"


def test_bootstrap_reestimates_the_mean():
    X, _ = _rated()
    P = span_coordinates(X, _ids(60))
    idx = np.random.default_rng(0).integers(0, 60, (4, 60))
    got = sphere._bootstrap_distinctiveness(P, idx)
    for b in range(4):
        mu, _ = sphere.karcher_mean(P[idx[b]])
        assert np.abs(got[b] - sphere.geodesic_distances(P[idx[b]], mu)[:, 0]).max() < 1e-10


def test_permutation_p_equals_a_plain_loop():
    X, Y = _rated()
    df = sphere.distinctiveness_correlations({"a": X}, Y[["typical"]], n_permutations=199, n_bootstrap=0, seed=3)
    perms = np.vstack(list(permutation_blocks(np.random.SeedSequence(3).spawn(2)[0], 60, 199, 600)))
    assert len(perms) == 199 and (np.sort(perms, axis=1) == np.arange(60)).all()
    d = sphere.distinctiveness(X, _ids(60))["distinctiveness"].to_numpy()
    y = Y["typical"].to_numpy()
    r = pearsonr(d, y)[0]
    null = [pearsonr(d, y[perm])[0] for perm in perms]
    assert df.loc[0, "p"] == pytest.approx((np.sum(np.abs(null) >= abs(r) - 1e-12) + 1) / 200)


def _two_groups(n=80, shift=0.0, seed=6, sd=0.4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 12)) * sd + np.r_[1.0, np.zeros(11)]
    labels = np.where(np.arange(n) < n // 2, "female", "male")
    X[labels == "male", 1] += shift
    return X, labels


@pytest.mark.parametrize("sd,shift,rel", [(0.1, 0.06, 0.05), (0.4, 0.3, 0.4)])
def test_group_means_equal_geomstats_and_tangent_accuracy(sd, shift, rel):
    X, labels = _two_groups(shift=shift, sd=sd)
    df = sphere.group_mean_test(X, labels, _ids(80), method="exact", n_permutations=499, seed=2)
    P = _unit(X)
    space, a = _geomstats_mean(P[labels == "female"])
    _, b = _geomstats_mean(P[labels == "male"])
    assert df.loc[0, "distance"] == pytest.approx(float(space.metric.dist(a, b)), abs=1e-10)
    tangent = sphere.group_mean_test(X, labels, _ids(80), method="tangent", n_permutations=499, seed=2)
    # accuracy of the tangent approximation against the exact test: at a median angle to the mean of
    # 0.32 rad (sd 0.1) the statistic is within 5%, at 0.92 rad (sd 0.4) it shrinks by up to 40%, while
    # the permutation p-values agree within 0.03 at both
    assert tangent.loc[0, "distance_tangent"] == pytest.approx(df.loc[0, "distance"], rel=rel)
    assert abs(tangent.loc[0, "p"] - df.loc[0, "p"]) < 0.03
    assert 0.001 < df.loc[0, "p"] < 0.5
    assert df.loc[0, ["n_a", "n_b"]].tolist() == [40, 40]


def test_group_bad_input():
    X, labels = _two_groups()
    with pytest.raises(PsychofaceError, match="at least 3"):
        sphere.group_mean_test(X, np.r_[["a", "a"], ["b"] * 78], _ids(80))
    with pytest.raises(PsychofaceError, match="exactly two"):
        sphere.group_mean_test(X, np.arange(80) % 3, _ids(80))


def test_zero_and_duplicate_vectors_refused():
    X, Y = _rated()
    Z = X.copy()
    Z[4] = 0
    with pytest.raises(PsychofaceError, match="'s4' has an all-zero"):
        sphere.distinctiveness(Z, _ids(60), "fc7")
    Z = X.copy()
    Z[7] = 2 * Z[2]
    with pytest.raises(PsychofaceError, match="'s2' and 's7' have the same feature direction"):
        sphere.distinctiveness(Z, _ids(60), "fc7")


# -------------------------------------------------------------------------------------- attributes


def _attribute_study(n=150, k=6, seed=7):
    rng = np.random.default_rng(seed)
    F = rng.normal(size=(n, 3))
    Y = pd.DataFrame(F @ rng.normal(size=(3, k)) + 0.5 * rng.normal(size=(n, k)), index=_ids(n),
                     columns=[f"a{j}" for j in range(k)])
    X = np.hstack([F, 0.3 * rng.normal(size=(n, 200))]) @ rng.normal(size=(203, 600))
    return X, Y


def test_readout_angles_equal_scikit_learn_ridge():
    X, Y = _attribute_study()
    A = attributes.readout_angles(X, Y)
    Xc = X - X.mean(axis=0)
    scale = np.trace(Xc @ Xc.T) / len(X)
    W = []
    for a in Y:
        chosen = A.attrs["psychoface"]["alpha_relative"][a]
        cv = RidgeCV(alphas=DEFAULT_ALPHAS * scale).fit(X, Y[a])
        assert cv.alpha_ == pytest.approx(chosen * scale)
        W.append(Ridge(alpha=chosen * scale).fit(X, Y[a]).coef_)
    W = np.array(W)
    C = W @ W.T / np.outer(np.linalg.norm(W, axis=1), np.linalg.norm(W, axis=1))
    ref = np.arccos(np.clip(C, -1, 1))
    np.fill_diagonal(ref, 0)
    assert np.abs(A.to_numpy() - ref).max() < 1e-8


def test_attribute_space_comparison():
    X, Y = _attribute_study()
    A = attributes.readout_angles(X, Y)
    H = attributes.rating_angles(Y)
    assert np.allclose(np.cos(H.to_numpy()), np.corrcoef(Y.to_numpy().T))
    df = attributes.compare_attribute_spaces({"fc7": A}, H, n_permutations=199, n_bootstrap=100)
    rho = spearmanr(squareform(A.to_numpy(), checks=False), squareform(H.to_numpy(), checks=False))[0]
    assert df.loc[0, "rho"] == pytest.approx(rho)
    assert df.loc[0, "n_attributes"] == 6 and df.attrs["psychoface"]["analysis"] == "attribute_space"
    with pytest.raises(PsychofaceError, match="at least 4"):
        attributes.rating_angles(Y.iloc[:, :3])


def test_classical_mds_recovers_a_planar_configuration():
    Z = np.random.default_rng(8).normal(size=(9, 2))
    D = squareform(pdist(Z))
    got, kept = attributes.classical_mds(D)
    assert np.allclose(squareform(pdist(got)), D) and kept == pytest.approx(1.0)
    names = [f"a{i}" for i in range(9)]
    R = np.array([[0.0, -1.0], [1.0, 0.0]])
    maps_ = attributes.mds_maps({"people": pd.DataFrame(D, names, names),
                                 "net": pd.DataFrame(squareform(pdist(Z @ R)), names, names)})
    a, b = (maps_[maps_.space == s][["dim1", "dim2"]].to_numpy() for s in ("people", "net"))
    assert np.allclose(a, b, atol=1e-10)


# ------------------------------------------------------------------------------------ Riemannian RSA


def _layers(n=14, p=40, seed=9):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    X[:, :6] *= 4
    return X, X + rng.normal(size=(n, p)), rng.normal(size=(n, p))


def test_shrinkage_equals_scikit_learn():
    X, _, _ = _layers()
    Q = riemannian.helmert_basis(14)
    Z = (Q.T @ X).T
    for name, ref in (("ledoit_wolf", ledoit_wolf_shrinkage(Z, assume_centered=True)),
                      ("oas", oas(Z, assume_centered=True)[1])):
        S, info = riemannian.second_moment(X, _ids(14), shrinkage=name, chunk_size=7)
        assert info["shrinkage"] == pytest.approx(ref, abs=1e-12)
    S, _ = riemannian.second_moment(X, _ids(14), shrinkage="oas")
    assert np.allclose(S, oas(Z, assume_centered=True)[0])


def test_spd_distances_equal_geomstats():
    X, Y, _ = _layers()
    A, _ = riemannian.second_moment(X, _ids(14), shrinkage=0.1)
    B, _ = riemannian.second_moment(Y, _ids(14), shrinkage=0.1)
    space = SPDMatrices(13)
    space.equip_with_metric(SPDAffineMetric)
    assert riemannian.affine_invariant_distance(A, B) == pytest.approx(float(space.metric.dist(A, B)), rel=1e-10)
    space.equip_with_metric(SPDLogEuclideanMetric)
    assert riemannian.log_euclidean_distance(A, B) == pytest.approx(float(space.metric.dist(A, B)), rel=1e-10)
    # free scale: the minimum over a factor of one matrix
    grid = np.exp(np.linspace(-1, 1, 2001))
    assert riemannian.affine_invariant_distance(A, B, "free") == pytest.approx(
        min(riemannian.affine_invariant_distance(s * A, B) for s in grid), abs=1e-5)
    assert riemannian.log_euclidean_distance(A, B, "free") == pytest.approx(
        min(riemannian.log_euclidean_distance(s * A, B) for s in grid), abs=1e-5)


def test_riemannian_distance_matches_rsatoolbox():
    import rsatoolbox
    from rsatoolbox.rdm import calc_rdm, compare

    X, Y, _ = _layers()
    rdms = [calc_rdm(rsatoolbox.data.Dataset(M), method="euclidean") for M in (X, Y)]
    ref = -compare(rdms[0], rdms[1], method="neg_riem_dist", sigma_k=np.zeros((14, 14)))[0, 0]
    A, _ = riemannian.second_moment(X, _ids(14), shrinkage=0.0)
    B, _ = riemannian.second_moment(Y, _ids(14), shrinkage=0.0)
    assert riemannian.affine_invariant_distance(A, B, "free") == pytest.approx(ref, rel=1e-4)


@pytest.mark.parametrize("metric", ["affine", "log_euclidean"])
@pytest.mark.parametrize("scale", ["free", "fixed"])
def test_riemannian_null_equals_recomputation(metric, scale):
    X, Y, W = _layers()
    df = riemannian.riemannian_rsa({"x": X, "y": Y, "w": W}, _ids(14), metric=metric, scale=scale,
                                   shrinkage=0.1, n_permutations=30, seed=4)
    dist = riemannian.affine_invariant_distance if metric == "affine" else riemannian.log_euclidean_distance
    B, _ = riemannian.second_moment(Y, _ids(14), shrinkage=0.1)
    null = [dist(riemannian.second_moment(X[perm], _ids(14), shrinkage=0.1)[0], B, scale)
            for perm in np.vstack(list(permutation_blocks(4, 14, 30)))]
    row = df.iloc[0]
    assert row["p"] == pytest.approx((np.sum(np.array(null) <= row["distance"] + 1e-12) + 1) / 31)
    assert row["z"] == pytest.approx((row["distance"] - np.mean(null)) / np.std(null, ddof=1))
    assert np.allclose(df["p_corr"], multipletests(df["p"], method="holm")[1])


def test_rank_deficient_second_moment_refused():
    X, _, _ = _layers()
    with pytest.raises(PsychofaceError, match="ratings: 5 attributes for 14 stimuli"):
        riemannian.second_moment(X[:, :5], _ids(14), name="ratings", what="attributes")
    low = X[:, :3] @ np.random.default_rng(0).normal(size=(3, 30))
    with pytest.raises(PsychofaceError, match="rank 3 < 13"):
        riemannian.second_moment(low, _ids(14), name="conv")


# ------------------------------------------------------------------------------------ shape metrics


def test_procrustes_angle_equals_formula_and_bures_wasserstein():
    rng = np.random.default_rng(10)
    X, Y = rng.normal(size=(15, 300)), rng.normal(size=(15, 20))
    Y[:, :5] += X[:, :5]
    ids = _ids(15)
    U, V = procrustes.centred_coordinates(X, ids), procrustes.centred_coordinates(Y, ids)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    theta = procrustes.procrustes_angle(U, V)
    direct = np.arccos(np.linalg.svd(Xc.T @ Yc, compute_uv=False).sum() / np.linalg.norm(Xc) / np.linalg.norm(Yc))
    assert theta == pytest.approx(direct, abs=1e-12)
    Q = riemannian.helmert_basis(15)
    A, B = Q.T @ Xc @ Xc.T @ Q, Q.T @ Yc @ Yc.T @ Q
    A, B = A / np.trace(A), B / np.trace(B)
    space = SPDMatrices(14)
    space.equip_with_metric(SPDBuresWassersteinMetric)
    bw = float(space.metric.dist(A, B))
    assert np.sqrt(2 - 2 * np.cos(theta)) == pytest.approx(bw, rel=1e-8)
    # a rating matrix (rank 4 < n): the fidelity from scipy's sqrtm still agrees
    R = Yc[:, :4]
    V4 = procrustes.centred_coordinates(R, ids)
    A, B = Xc @ Xc.T, R @ R.T
    sA = sqrtm(A / np.trace(A)).real
    fidelity = np.trace(sqrtm(sA @ (B / np.trace(B)) @ sA).real)
    assert np.cos(procrustes.procrustes_angle(U, V4)) == pytest.approx(fidelity, abs=1e-6)
    # a rotated, translated copy is at distance 0
    rot = np.linalg.qr(rng.normal(size=(20, 20)))[0]
    assert procrustes.procrustes_angle(V, procrustes.centred_coordinates(Y @ rot + 3, ids)) < 1e-6


def test_shape_distances_permutation_and_max_statistic():
    rng = np.random.default_rng(11)
    n = 25
    X1, X2 = rng.normal(size=(n, 6)), rng.normal(size=(n, 8))
    Y = pd.DataFrame(X1[:, :3] + 0.3 * rng.normal(size=(n, 3)), index=_ids(n), columns=list("abc"))
    df = procrustes.shape_distances({"l1": X1, "l2": X2}, Y, _ids(n), n_permutations=99, seed=3)
    perms = np.vstack(list(permutation_blocks(3, n, 99, 10 * n)))
    V = procrustes.centred_coordinates(Y.to_numpy(), _ids(n))
    nulls = np.array([[procrustes.procrustes_angle(procrustes.centred_coordinates(X, _ids(n)), V[p])
                       for X in (X1, X2)] for p in perms])
    for i in range(2):
        d = df.loc[i, "distance"]
        assert df.loc[i, "p"] == pytest.approx((np.sum(nulls[:, i] <= d + 1e-12) + 1) / 100)
        assert df.loc[i, "p_corr"] == pytest.approx((np.sum(nulls.min(axis=1) <= d + 1e-12) + 1) / 100)
    assert df.loc[0, "p"] < 0.05


# -------------------------------------------------------------------------------------------- maps


def test_trustworthiness_and_knn_operator_equal_scikit_learn():
    rng = np.random.default_rng(12)
    n = 80
    X = rng.normal(size=(n, 400)) + np.linspace(0, 3, n)[:, None]
    Z = maps.embed(X, _ids(n), method="pca")
    pca = X - X.mean(0)
    ref = np.linalg.svd(pca, full_matrices=False)
    assert np.allclose(np.abs(Z), np.abs(ref[0][:, :2] * ref[1][:2]))
    q = maps.map_quality(X, Z, _ids(n), k=7)
    assert q.loc[0, "trustworthiness"] == pytest.approx(trustworthiness(X, Z, n_neighbors=7))
    assert q.loc[0, "continuity"] == pytest.approx(trustworthiness(Z, X, n_neighbors=7))
    fold = rng.integers(0, 5, n)
    y = Z[:, 0] + rng.normal(size=n)
    ref = cross_val_predict(KNeighborsRegressor(6), Z, y, cv=PredefinedSplit(fold))
    assert np.allclose(maps.knn_operator(Z, fold, 6) @ y, ref)


def test_map_scores():
    rng = np.random.default_rng(13)
    n = 90
    Z = rng.normal(size=(n, 2))
    Y = pd.DataFrame({"held": Z[:, 0] + 0.3 * rng.normal(size=n), "absent": rng.normal(size=n)}, index=_ids(n))
    df = maps.map_scores({"pca": Z}, Y, k=5, folds=5, n_permutations=199, n_bootstrap=200, seed=1)
    assert df.loc[0, "p"] == pytest.approx(1 / 200) and df.loc[0, "r"] > 0.6
    assert np.allclose(df["p_corr"], multipletests(df["p"], method="holm")[1])


@pytest.mark.parametrize("method,module", [("tsne", "openTSNE"), ("umap", "umap")])
def test_missing_map_package_gives_install_hint(method, module, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(PsychofaceError, match=r"psychoface\[maps\]"):
        maps.embed(np.random.default_rng(0).normal(size=(20, 5)), _ids(20), method=method)


def test_seeded_tsne_is_reproducible():
    pytest.importorskip("openTSNE")
    X = np.random.default_rng(14).normal(size=(40, 10))
    a = maps.embed(X, _ids(40), method="tsne", seed=3)
    b = maps.embed(X, _ids(40), method="tsne", seed=3)
    assert np.array_equal(a, b)
