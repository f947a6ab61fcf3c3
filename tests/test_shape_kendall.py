"""Kendall's shape space: the closed forms against geomstats and scipy, the Fréchet mean against an
independent iterative mean, tangent PCA."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import procrustes

from psychoface.analyses.shape import kendall as K
from psychoface.errors import PsychofaceError


def _faces(n=30, k=12, spread=0.08, seed=0):
    """Noisy copies of one configuration, each rotated, scaled and shifted at random."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(k, 2))
    X = base + spread * rng.normal(size=(n, k, 2))
    th = rng.uniform(0, 2 * np.pi, n)
    R = np.stack([np.stack([np.cos(th), -np.sin(th)], -1), np.stack([np.sin(th), np.cos(th)], -1)], -2)
    return np.einsum("nij,nkj->nki", R, X) * rng.uniform(50, 200, (n, 1, 1)) + rng.uniform(100, 300, (n, 1, 2))


def test_preshape_align_log_exp_against_geomstats():
    X = _faces()
    P = K.preshapes(X)
    space, quotient = K.geomstats_spaces(X.shape[1])
    np.testing.assert_allclose(P, space.projection(X), atol=1e-12)
    mean = K.frechet_mean(P)
    np.testing.assert_allclose(K.align(P, mean), space.fiber_bundle.align(P, mean), atol=1e-12)
    np.testing.assert_allclose(K.log_map(P, mean), quotient.metric.log(P, mean), atol=1e-10)
    V = K.log_map(P, mean)
    np.testing.assert_allclose(K.exp_map(V, mean), quotient.metric.exp(V, mean), atol=1e-12)
    # exp(log) returns the face (up to rotation): distance 0
    assert K.rho(K.exp_map(V, mean), P).max() < 1e-7


def test_distances_against_geomstats_and_scipy_procrustes():
    X = _faces(n=12)
    P = K.preshapes(X)
    _, quotient = K.geomstats_spaces(X.shape[1])
    D = K.pairwise_rho(P)
    G = np.array([[quotient.metric.dist(P[i], P[j]) for j in range(12)] for i in range(12)])
    np.testing.assert_allclose(D, G, atol=1e-7)
    np.testing.assert_allclose(K.rho(P[:, None], P[None]), D, atol=1e-7)
    assert np.allclose(np.diag(D), 0) and np.allclose(D, D.T)
    for i, j in [(0, 1), (2, 7), (5, 11)]:
        _, _, disparity = procrustes(X[i], X[j])
        assert disparity == pytest.approx(np.sin(D[i, j]) ** 2, abs=1e-12)


def test_rotation_scale_translation_invariance():
    X = _faces(n=2)
    th = 0.7
    R = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    Y = X[1] @ R.T * 3.5 + 40
    P = K.preshapes(np.stack([X[0], X[1], Y]))
    assert K.rho(P[1], P[2]) < 1e-7 and K.rho(P[0], P[1]) == pytest.approx(K.rho(P[0], P[2]), abs=1e-7)


def test_frechet_mean_converged_and_equal_to_an_independent_iteration():
    X = _faces(n=60, spread=0.15, seed=3)
    P = K.preshapes(X)
    mean = K.frechet_mean(P)
    # the tangent mean vanishes at the estimate
    assert np.sqrt((K.log_map(P, mean).mean(axis=0) ** 2).sum()) < 1e-9
    # an independent iteration: the Karcher fixed point from another start (the first face)
    mine, iterations, gradient = K.batched_means(K.to_complex(P), np.full((1, 60), 1 / 60), K.to_complex(P[0]))
    assert gradient <= K.MEAN_TOLERANCE and iterations < 50
    assert K.rho(K.to_real(mine[0]), mean) < 1e-8
    # weighted means of several weight vectors at once equal one at a time
    W = np.random.default_rng(0).dirichlet(np.ones(60), size=3)
    batch, _, _ = K.batched_means(K.to_complex(P), W, K.to_complex(mean), logs=K.to_complex(K.log_map(P, mean)))
    for b in range(3):
        one, _, _ = K.batched_means(K.to_complex(P), W[b:b + 1], K.to_complex(P[0]))
        assert K.rho(K.to_real(batch[b]), K.to_real(one[0])) < 1e-8
    # geomstats' weighted Frechet mean agrees with the batched weighted mean
    from psychoface.analyses.shape.kendall import _learning, geomstats_spaces

    FrechetMean, _ = _learning()
    est = FrechetMean(geomstats_spaces(P.shape[1])[1], method="adaptive")
    est.optimizer.epsilon, est.optimizer.max_iter = 1e-11, 1000
    est.fit(P, weights=W[0])
    assert K.rho(np.asarray(est.estimate_), K.to_real(batch[0])) < 1e-8


def test_fit_shapes_and_tangent_pca():
    X = _faces(n=40, k=10)
    fit = K.fit_shapes(X, [f"f{i}" for i in range(40)])
    assert fit.preshapes.shape == (40, 10, 2) and fit.tangent_matrix.shape == (40, 20)
    np.testing.assert_allclose(fit.rho, np.sqrt((fit.tangent ** 2).sum(axis=(1, 2))), atol=1e-10)
    np.testing.assert_allclose(fit.procrustes_distance, 2 * np.sin(fit.rho / 2))
    pca = K.tangent_pca(fit.preshapes, fit.mean)
    reference = K.geomstats_tangent_pca(fit.preshapes, fit.mean)
    np.testing.assert_allclose(pca.explained_variance_, reference.explained_variance_, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(pca.explained_variance_ratio_, reference.explained_variance_ratio_, atol=1e-10)
    for mine, theirs in zip(pca.components_[:5], reference.components_[:5]):  # up to sign
        assert min(np.abs(mine - theirs).max(), np.abs(mine + theirs).max()) < 1e-6
    assert pca.explained_variance_ratio_.sum() == pytest.approx(1.0, abs=1e-8)
    # the variance of the tangent coordinates is the sum of the explained variances (16 = 2k - 4 dimensions)
    total = fit.tangent_matrix.var(axis=0, ddof=1).sum()
    assert pca.explained_variance_.sum() == pytest.approx(total, rel=1e-6)
    assert len(pca.explained_variance_) == 16


def test_bad_configurations():
    with pytest.raises(PsychofaceError, match="face 'b': all its landmarks coincide"):
        K.preshapes(np.stack([np.random.default_rng(0).normal(size=(5, 2)), np.ones((5, 2))]), ["a", "b"])
    with pytest.raises(PsychofaceError, match="k >= 3 points"):
        K.preshapes(np.zeros((2, 2, 2)))
    with pytest.raises(PsychofaceError, match="2 faces with landmarks; shape analyses need at least 3"):
        K.fit_shapes(_faces(n=2), ["a", "b"])


def test_geomstats_import_leaves_warnings_and_logging_alone():
    import logging
    import subprocess
    import sys

    code = ("import logging, warnings; warnings.simplefilter('error', ImportWarning); "
            "from psychoface.analyses.shape.kendall import geomstats_spaces, _learning; "
            "geomstats_spaces(5); _learning(); r = logging.getLogger(); print(r.level, len(r.handlers))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(logging.WARNING), "0"]
