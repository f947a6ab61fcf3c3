"""Coordinates of a layer's face vectors in the span of the data (the n-dimensional reduction).

n face vectors in R^D span at most n dimensions, and the sphere of that span is a totally geodesic
subsphere of S^(D-1): angles, geodesic distances, Fréchet means and Euclidean distances computed from
coordinates in an orthonormal basis of the span equal those computed in R^D. With D > n the coordinates
are ``V sqrt(L)`` from the eigendecomposition ``G = V L V'`` of the Gram matrix ``G = X X'`` (read in
chunks of features, never copying the layer); with D <= n the vectors are already coordinates.
"""

from __future__ import annotations

import numpy as np

from psychoface.analyses.predict import check_finite
from psychoface.errors import PsychofaceError


def gram(X, ids, chunk_size: int = 4096) -> np.ndarray:
    """``X X'`` in float64, reading ``chunk_size`` features at a time (memory maps are not copied)."""
    n = X.shape[0]
    G = np.zeros((n, n))
    for c0 in range(0, X.shape[1], chunk_size):
        chunk = np.asarray(X[:, c0 : c0 + chunk_size], dtype=np.float64)
        check_finite(chunk, ids, c0)
        G += chunk @ chunk.T
    return G


def gram_coordinates(G: np.ndarray, rtol: float = 1e-12) -> np.ndarray:
    """Coordinates ``U`` (n x rank) with ``U U' = G``, from the eigendecomposition of ``G``."""
    lam, V = np.linalg.eigh(G)
    keep = lam > rtol * max(lam[-1], 0.0)
    return V[:, keep][:, ::-1] * np.sqrt(lam[keep][::-1])


def span_coordinates(X, ids, name: str = "layer", chunk_size: int = 4096) -> np.ndarray:
    """Unit directions of the rows of ``X`` as coordinates in an orthonormal basis of their span.

    Refuses a zero (or non-finite) face vector, which has no direction, and two faces with the same
    direction (the same image twice, or an extraction that failed the same way twice).
    """
    X = np.asarray(X) if not isinstance(X, np.ndarray) else X
    n, D = X.shape
    if D <= n:
        U = np.asarray(X, dtype=np.float64)
        check_finite(U, ids, 0)
        norms = np.sqrt(np.einsum("ij,ij->i", U, U))
        _check_norms(norms, ids, name)
        U = U / norms[:, None]
        G = U @ U.T if n <= 4000 else None
    else:
        G = gram(X, ids, chunk_size)
        norms = np.sqrt(np.clip(np.diag(G), 0.0, None))
        _check_norms(norms, ids, name)
        G = G / np.outer(norms, norms)
        U = gram_coordinates(G)
        U /= np.linalg.norm(U, axis=1, keepdims=True)
    if G is not None:
        _check_duplicates(G, ids, name)
    else:
        _check_duplicates_rows(U, ids, name)
    return U


def _check_norms(norms, ids, name):
    zero = np.flatnonzero(norms == 0)
    if len(zero):
        raise PsychofaceError(
            f"{name}: stimulus {ids[zero[0]]!r} has an all-zero feature vector, which has no direction on the "
            "sphere; re-extract its features or drop the stimulus"
        )


def _check_duplicates(G, ids, name):
    C = np.triu(G, 1)
    i, j = np.unravel_index(np.argmax(C), C.shape)
    if C[i, j] > 1 - 1e-12:
        raise PsychofaceError(
            f"{name}: stimuli {ids[i]!r} and {ids[j]!r} have the same feature direction (duplicate images?); "
            "drop one of them"
        )


def _check_duplicates_rows(U, ids, name):
    """Same directions found through a random projection (equal rows project equally), then confirmed."""
    proj = U @ np.random.default_rng(0).standard_normal(U.shape[1])
    order = np.argsort(proj, kind="stable")
    close = np.flatnonzero(np.diff(proj[order]) <= 1e-12 * (1 + np.abs(proj[order][1:])))
    for k in close:
        i, j = sorted((order[k], order[k + 1]))
        if U[i] @ U[j] > 1 - 1e-12:
            raise PsychofaceError(
                f"{name}: stimuli {ids[i]!r} and {ids[j]!r} have the same feature direction (duplicate images?); "
                "drop one of them"
            )


def permutation_blocks(seed, n: int, n_permutations: int, block_elements: int = 2**22):
    """Permutations of ``range(n)`` in blocks of rows (m x n), drawn from ``numpy.random.default_rng(seed)``.

    The same seed gives the same permutations for every test of a family, and memory stays flat in the
    number of permutations (at most ``block_elements`` indices at once).
    """
    rng = np.random.default_rng(seed)
    per = max(1, block_elements // max(n, 1))
    for start in range(0, n_permutations, per):
        m = min(per, n_permutations - start)
        yield rng.permuted(np.tile(np.arange(n), (m, 1)), axis=1)
