"""Kendall's shape space of planar landmark configurations, with geomstats and in closed form.

A configuration of *k* points is centred and scaled to unit size (its *pre-shape*, a point on the unit
sphere of centred configurations); its *shape* is what remains after rotations are quotiented out
(Kendall, 1984; Dryden & Mardia, 2016). The Riemannian distance between two shapes is the great-circle
distance between their optimally rotated pre-shapes,

    rho(X, Y) = arccos( sum of the singular values of X^T Y ),  corrected for reflections:
              = arccos( |<x, y>| ) with each configuration written as k complex numbers x = a + ib,

and geomorph's Procrustes distance is 2 sin(rho / 2) (Adams & Otarola-Castillo, 2013); scipy's
``procrustes`` disparity, which fits scale as well, is sin^2(rho) when no reflection is needed.

geomstats (Miolane et al., 2020; ``PreShapeSpace(k, 2)`` with the rotation action and its quotient, the
Kendall shape metric) gives the pre-shape projection, the alignment, the Fréchet mean
(``FrechetMean(method="adaptive")`` with a tight ``epsilon``; its convergence is checked here) and tangent PCA.
Everything evaluated many times (pairwise distances, the log map of every face, the means of bootstrap
resamples and permuted groups) is written in closed form on complex coordinates and vectorised over
resamples; tests/test_shape_kendall.py checks each against geomstats.
"""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from psychoface.errors import PsychofaceError

MEAN_TOLERANCE = 1e-10
"""Largest norm (radians) of the tangent mean at a returned Fréchet mean: the mean is a critical point of
the sum of squared distances up to this."""

RESAMPLE_TOLERANCE = 1e-8
"""The same for the means of bootstrap resamples and permuted groups (distances change by less than about
this, far below any sampling error)."""

MIN_FACES = 3
_MAX_ITER = 200


@contextmanager
def _quiet_geomstats():
    """Import geomstats without its side effects on the caller: its ImportWarning and DeprecationWarnings
    are silenced here only, and the root logger it reconfigures on import (level INFO, a handler) is put
    back as it was."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ImportWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers


def geomstats_spaces(k: int):
    """geomstats' pre-shape space of ``k`` planar landmarks with the rotation action, and its quotient (the
    Kendall shape space)."""
    with _quiet_geomstats():
        from geomstats.geometry.pre_shape import PreShapeSpace
    space = PreShapeSpace(k, 2)
    space.equip_with_group_action("rotations")
    space.equip_with_quotient()
    return space, space.quotient


def _learning():
    with _quiet_geomstats():
        from geomstats.learning.frechet_mean import FrechetMean
        from geomstats.learning.pca import TangentPCA
    return FrechetMean, TangentPCA


# --------------------------------------------------------------------------------------- closed forms


def preshapes(coords: np.ndarray, ids=None) -> np.ndarray:
    """Centre each (k, 2) configuration and scale it to unit Frobenius norm: (n, k, 2) pre-shapes."""
    X = np.asarray(coords, dtype=float)
    if X.ndim == 2:
        X = X[None]
    if X.ndim != 3 or X.shape[2] != 2 or X.shape[1] < 3:
        raise PsychofaceError(f"landmarks have shape {X.shape}; give n faces x k >= 3 points x 2 coordinates")
    X = X - X.mean(axis=1, keepdims=True)
    size = np.sqrt((X**2).sum(axis=(1, 2)))
    if (size < 1e-12).any():
        face = int(np.flatnonzero(size < 1e-12)[0])
        name = repr(ids[face]) if ids is not None else f"number {face + 1}"
        raise PsychofaceError(f"face {name}: all its landmarks coincide, so it has no shape; fix its landmarks")
    return X / size[:, None, None]


def to_complex(P: np.ndarray) -> np.ndarray:
    """(..., k, 2) real -> (..., k) complex x + iy."""
    return P[..., 0] + 1j * P[..., 1]


def to_real(Z: np.ndarray) -> np.ndarray:
    """(..., k) complex -> (..., k, 2) real."""
    return np.stack([Z.real, Z.imag], axis=-1)


def _rho_from_inner(c: np.ndarray) -> np.ndarray:
    return np.arccos(np.clip(np.abs(c), 0.0, 1.0))


def rho(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """Kendall shape distance between pre-shapes ``P`` and ``Q`` (broadcast over leading axes), radians:
    2 arcsin(chord / 2) after rotating Q onto P, which keeps full precision for near shapes (arccos of the
    inner product loses about 1e-8 rad there)."""
    p, q = to_complex(P), to_complex(Q)
    c = (np.conj(p) * q).sum(axis=-1, keepdims=True)
    unit = np.where(np.abs(c) > 0, np.conj(c) / np.maximum(np.abs(c), 1e-300), 1.0)
    chord = np.sqrt((np.abs(p - q * unit) ** 2).sum(axis=-1))
    return 2 * np.arcsin(np.clip(chord / 2, 0.0, 1.0))


def pairwise_rho(P: np.ndarray) -> np.ndarray:
    """(n, n) Kendall shape distances of all pairs of pre-shapes, arccos |z_i^H z_j| from one complex matrix
    product (absolute error below about 2e-8 rad for near-identical shapes)."""
    Z = to_complex(P)
    D = _rho_from_inner(np.conj(Z) @ Z.T)
    np.fill_diagonal(D, 0.0)
    return (D + D.T) / 2


def align(P: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Rotate each pre-shape onto ``reference`` (ordinary Procrustes fit without scaling or reflection)."""
    Z, m = to_complex(P), to_complex(reference)
    c = (np.conj(m) * Z).sum(axis=-1, keepdims=True)
    phase = np.where(np.abs(c) > 0, np.conj(c) / np.maximum(np.abs(c), 1e-300), 1.0)
    return to_real(Z * phase)


def log_map(P: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Tangent vectors at ``mean`` (horizontal, the Kendall shape metric's log) of the pre-shapes ``P``."""
    Z, m = to_complex(P), to_complex(mean)
    c = Z @ np.conj(m)
    r = _rho_from_inner(c)
    unit = np.where(np.abs(c) > 0, np.conj(c) / np.maximum(np.abs(c), 1e-300), 1.0)
    factor = np.where(r > 1e-12, r / np.sin(np.maximum(r, 1e-300)), 1.0)
    V = factor[:, None] * (Z * unit[:, None] - np.abs(c)[:, None] * m[None])
    return to_real(V)


def exp_map(V: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Pre-shapes reached from ``base`` along the tangent vectors ``V`` (great circles of the sphere)."""
    V = np.asarray(V, dtype=float)
    norm = np.sqrt((V**2).sum(axis=(-2, -1), keepdims=True))
    safe = np.where(norm > 1e-300, norm, 1.0)
    return np.cos(norm) * base + np.sin(norm) * V / safe


def batched_means(Z: np.ndarray, W: np.ndarray, start: np.ndarray, *, tol: float = MEAN_TOLERANCE,
                  max_iter: int = _MAX_ITER, logs: np.ndarray | None = None) -> tuple[np.ndarray, int, float]:
    """Weighted Fréchet (Karcher) means of the complex pre-shapes ``Z`` (n, k), one per row of ``W`` (B, n;
    rows summing to 1), by the fixed-point iteration mu <- exp_mu(sum_j w_j log_mu(z_j)) from ``start``
    (B, k or k) (Karcher, 1977; Le, 2001). ``logs``: the complex log map of ``Z`` at a single ``start``, which
    makes the first step one matrix product. Returns the (B, k) means, the iterations used and the largest
    final tangent-mean norm (at most ``tol`` unless ``max_iter`` ran out)."""
    B = W.shape[0]
    mu = np.broadcast_to(start, (B, Z.shape[1])).astype(complex)
    if logs is not None:
        mu = _exp_rows(mu, W @ logs)
    worst = np.inf
    ZT = np.ascontiguousarray(Z.T)
    for it in range(1, max_iter + 1):
        c = np.conj(mu) @ ZT                       # (B, n): <mu_b, z_j>
        a = np.minimum(np.abs(c), 1.0)
        r = np.arccos(a)
        s = np.sqrt(np.maximum(1.0 - a * a, 0.0))
        f = np.divide(r, s, out=np.ones_like(r), where=s > 1e-12)   # rho / sin(rho)
        wf = W * f
        coef = np.divide(wf, a, out=np.zeros_like(a), where=a > 0) * np.conj(c)
        g = coef @ Z - (wf * a).sum(axis=1, keepdims=True) * mu
        worst = float(np.sqrt((np.abs(g) ** 2).sum(axis=1)).max())
        if worst <= tol:
            return mu, it, worst
        mu = _exp_rows(mu, g)
    return mu, max_iter, worst


def _exp_rows(mu: np.ndarray, g: np.ndarray) -> np.ndarray:
    norm = np.sqrt((np.abs(g) ** 2).sum(axis=1, keepdims=True))
    out = np.cos(norm) * mu + np.sin(norm) * g / np.where(norm > 0, norm, 1.0)
    return out / np.sqrt((np.abs(out) ** 2).sum(axis=1, keepdims=True))


def log_rows(base: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Row-wise complex log map of aligned pre-shapes ``points`` (B, k) at ``base`` (B, k), each row at its own
    base (the points rotated optimally onto their base first)."""
    c = (np.conj(base) * points).sum(axis=1, keepdims=True)
    a = np.minimum(np.abs(c), 1.0)
    r = np.arccos(a)
    s = np.sqrt(1.0 - a * a)
    f = np.divide(r, s, out=np.ones_like(r), where=s > 1e-12)
    u = np.divide(np.conj(c), a, out=np.ones_like(c), where=a > 0)
    return f * (points * u - a * base)


def complex_logs(Z: np.ndarray, base: np.ndarray) -> np.ndarray:
    """The log map (complex, (n, k)) of complex pre-shapes ``Z`` at the complex pre-shape ``base``."""
    return to_complex(log_map(to_real(Z), to_real(base)))

# --------------------------------------------------------------------------------------- geomstats


def frechet_mean(P: np.ndarray, *, epsilon: float = MEAN_TOLERANCE, max_iter: int = 1000) -> np.ndarray:
    """The Fréchet mean shape of the pre-shapes ``P`` with geomstats (``FrechetMean(method="adaptive")`` on
    the Kendall shape space), as a pre-shape; an error if the tangent mean at the result is not below
    ``epsilon`` (not converged)."""
    n, k = P.shape[:2]
    space, quotient = geomstats_spaces(k)
    FrechetMean, _ = _learning()
    estimator = FrechetMean(quotient, method="adaptive")
    estimator.optimizer.epsilon = epsilon
    estimator.optimizer.max_iter = max_iter
    estimator.optimizer.init_point = full_procrustes_mean(P)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # geomstats warns when max_iter is reached: checked below
        estimator.fit(P)
    mean = np.asarray(estimator.estimate_, dtype=float)
    gradient = np.sqrt((log_map(P, mean).mean(axis=0) ** 2).sum())
    if not np.isfinite(gradient) or gradient > max(10 * epsilon, 1e-9):
        raise PsychofaceError(
            f"the Fréchet mean shape did not converge (tangent mean {gradient:.2g} rad after {max_iter} "
            "iterations); the faces' shapes are too spread out for a mean shape: check the landmarks")
    return mean


def full_procrustes_mean(P: np.ndarray) -> np.ndarray:
    """The full Procrustes mean (Kent, 1994): the leading eigenvector of sum_j z_j z_j^H, rotated onto the
    first face; the starting point of the Fréchet mean."""
    Z = to_complex(P)
    _, vecs = np.linalg.eigh(Z.T @ np.conj(Z))
    m = vecs[:, -1]
    m = m * np.exp(-1j * np.angle(np.vdot(Z[0], m)))
    return to_real(m / np.linalg.norm(m))


@dataclass
class TangentPCA:
    """Principal components of tangent coordinates: ``components_`` (m, 2k) unit tangent vectors,
    ``explained_variance_`` (m,) and ``explained_variance_ratio_`` (m,), as geomstats' ``TangentPCA``."""

    components_: np.ndarray
    explained_variance_: np.ndarray
    explained_variance_ratio_: np.ndarray


def tangent_pca(P: np.ndarray, mean: np.ndarray, n_components: int | None = None) -> TangentPCA:
    """Tangent PCA (principal geodesic analysis linearised at the mean; Fletcher et al., 2004): the
    principal components of the log maps of the pre-shapes ``P`` at ``mean``, from one economy-size SVD of
    the centred (n x 2k) tangent coordinates. It equals geomstats' ``TangentPCA`` on the Kendall shape space
    (tests/test_shape_kendall.py), which takes the full-size SVD (an n x n factor) and seconds at 1,000
    faces."""
    T = log_map(P, mean).reshape(len(P), -1)
    T = T - T.mean(axis=0)
    _, sv, vt = np.linalg.svd(T, full_matrices=False)
    n_max = min(len(P) - 1, 2 * P.shape[1] - 4)
    m = min(n_components or n_max, n_max)
    variance = sv**2 / (len(P) - 1)
    return TangentPCA(vt[:m], variance[:m], variance[:m] / variance.sum())


def geomstats_tangent_pca(P: np.ndarray, mean: np.ndarray, n_components: int | None = None):
    """geomstats' own ``TangentPCA`` on the Kendall shape space (the reference of :func:`tangent_pca`)."""
    k = P.shape[1]
    _, quotient = geomstats_spaces(k)
    _, GeomstatsTangentPCA = _learning()
    n_max = min(P.shape[0], 2 * k - 4)
    pca = GeomstatsTangentPCA(quotient, n_components=min(n_components or n_max, n_max))
    pca.fit(P, base_point=mean)
    return pca


@dataclass
class ShapeFit:
    """Faces in Kendall's shape space: ``ids``; ``preshapes`` (n, k, 2) aligned to ``mean`` (the Fréchet
    mean, a pre-shape); ``rho`` (n,) each face's distance to the mean (radians); ``tangent`` (n, k, 2) the
    log map at the mean; ``scale`` each configuration's centroid size in pixels."""

    ids: list[str]
    preshapes: np.ndarray
    mean: np.ndarray
    rho: np.ndarray
    tangent: np.ndarray
    scale: np.ndarray

    @property
    def procrustes_distance(self) -> np.ndarray:
        """geomorph's Procrustes distance to the mean, 2 sin(rho / 2)."""
        return 2 * np.sin(self.rho / 2)

    @property
    def tangent_matrix(self) -> np.ndarray:
        """(n, 2k) tangent coordinates (x0, y0, x1, y1, ...)."""
        return self.tangent.reshape(len(self.ids), -1)


def fit_shapes(coords: np.ndarray, ids, *, minimum: int = MIN_FACES) -> ShapeFit:
    """Pre-shapes, the Fréchet mean shape (geomstats), distances to it and tangent coordinates at it."""
    coords = np.asarray(coords, dtype=float)
    ids = [str(i) for i in ids]
    if coords.shape[0] < minimum:
        raise PsychofaceError(f"{coords.shape[0]} faces with landmarks; shape analyses need at least {minimum}: "
                              "add faces or their landmarks")
    centred = coords - coords.mean(axis=1, keepdims=True)
    scale = np.sqrt((centred**2).sum(axis=(1, 2)))
    P = preshapes(coords, ids)
    mean = frechet_mean(P)
    aligned = align(P, mean)
    return ShapeFit(ids, aligned, mean, rho(aligned, mean[None]), log_map(aligned, mean), scale)
