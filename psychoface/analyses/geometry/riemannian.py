"""Riemannian RSA: distances between the second-moment matrices of representations (Shahbazi et al., 2021).

- Second moment of a layer over stimuli: ``S = Q' X X' Q / p`` for the n x p features ``X``, with ``Q``
  an orthonormal basis of the stimulus-centred subspace (n - 1 dimensions; Helmert contrasts), i.e. the
  stimulus second-moment matrix of the squared-Euclidean RDM (rsatoolbox's ``neg_riem_dist`` builds the
  same matrix in a non-orthonormal contrast basis; the affine-invariant distance does not depend on the
  basis). The features are the samples, so ``S`` is full rank only with at least n - 1 features in
  general position: a rank-deficient matrix (a layer with too few features, or a rating matrix, whose
  rank is at most its number of attributes) is refused rather than shrunk into a positive-definite matrix
  whose geometry is mostly the shrinkage target.
- Shrinkage towards ``mu I`` (``mu`` = mean eigenvalue): Ledoit & Wolf (2004) or OAS (Chen et al., 2010),
  the formulas of scikit-learn's ``ledoit_wolf_shrinkage`` and ``oas`` with the features as samples
  (computed from the Gram matrix and the features' squared norms, so the layer is read once); or a fixed
  value. The target commutes with permutations of the stimuli, so shrinkage and permutation commute.
- Distances: affine-invariant ``sqrt(sum log^2 lambda_i)`` with ``lambda`` the generalised eigenvalues of
  ``eigh(B, A)`` (Pennec et al., 2006), and log-Euclidean ``||log A - log B||_F`` (Arsigny et al., 2007),
  equal to geomstats' ``SPDAffineMetric`` and ``SPDLogEuclideanMetric`` distances. With ``scale="free"``
  (default) the distance is minimised over a positive factor of one matrix, as rsatoolbox does, in
  closed form (the log-eigenvalues, or the log-difference's trace, centred).
- Inference: the stimuli of one layer are permuted (the other fixed): p = (b + 1)/(N + 1), one-sided (a
  smaller distance is more similar), and z = (d - mean(null)) / sd(null) as Shahbazi et al. report.
  The fixed matrix is whitened once; each permutation costs one matrix product and one symmetric
  eigenvalue problem. Holm across the pairs of layers.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy.linalg import eigh

from psychoface.analyses.geometry.span import permutation_blocks
from psychoface.analyses.inference import correct_p, correction_label, permutation_p
from psychoface.analyses.predict import check_finite
from psychoface.errors import PsychofaceError

SHRINKAGE_GRID = (0.0, 0.01, 0.05, 0.1, 0.2, 0.5)
METRICS = ("affine", "log_euclidean")


def helmert_basis(n: int) -> np.ndarray:
    """Orthonormal basis (n x (n - 1)) of the vectors summing to zero (Helmert contrasts)."""
    H = np.zeros((n, n - 1))
    for j in range(1, n):
        H[:j, j - 1] = 1.0
        H[j, j - 1] = -j
        H[:, j - 1] /= np.sqrt(j * (j + 1))
    return H


def second_moment(X, ids, *, name: str = "layer", shrinkage="ledoit_wolf", what: str = "features",
                  chunk_size: int = 4096):
    """Shrunk second-moment matrix of a representation over stimuli, in the centred subspace.

    Returns ``(S, info)`` with ``S`` ((n - 1) x (n - 1), positive definite) and ``info`` = {"shrinkage":
    value, "shrinkage_method": name, "rank": numerical rank before shrinkage}.
    """
    return shrink(raw_second_moment(X, ids, name=name, what=what, chunk_size=chunk_size), shrinkage)


def raw_second_moment(X, ids, *, name: str = "layer", what: str = "features", chunk_size: int = 4096) -> dict:
    """The unshrunk second moment ``S`` with what the shrinkage estimators need (one pass over X)."""
    ids = [str(i) for i in ids]
    n, p = X.shape
    m = n - 1
    if p < m:
        raise PsychofaceError(
            f"{name}: {p} {what} for {n} stimuli give a second-moment matrix of rank at most {p} < {m}; "
            "Riemannian RSA needs at least as many "
            f"{what} as stimuli minus one, and shrinking would put in meaning the data lack: compare it with "
            "RSA or the Procrustes distance instead"
        )
    # z_k = Q' x_k and ||z_k||^2 = ||x_k - mean(x_k)||^2 (Q Q' is the centring matrix), so the centred
    # Gram matrix and the features' centred sums of squares give S and Ledoit-Wolf's fourth moments
    Q = helmert_basis(n)
    K = np.zeros((n, n))
    fourth = 0.0  # sum over features of ||z_k||^4 (Ledoit-Wolf's beta)
    for c0 in range(0, p, chunk_size):
        chunk = np.asarray(X[:, c0 : c0 + chunk_size], dtype=np.float64)
        check_finite(chunk, ids, c0)
        chunk -= chunk.mean(axis=0)
        K += chunk @ chunk.T
        fourth += float((np.einsum("ij,ij->j", chunk, chunk) ** 2).sum())
    S = Q.T @ K @ Q / p
    lam = np.linalg.eigvalsh(S)
    rank = int((lam > 1e-10 * max(lam[-1], 0.0)).sum())
    if rank < m:
        raise PsychofaceError(
            f"{name}: its second-moment matrix over {n} stimuli has rank {rank} < {m} ({p} {what}, not in general "
            "position); Riemannian RSA needs a full-rank matrix and shrinking would put in meaning the data "
            "lack: compare it with RSA or the Procrustes distance instead"
        )
    return {"S": S, "fourth": fourth, "p": p, "rank": rank}


def shrink(raw: dict, shrinkage="ledoit_wolf"):
    """``(S, info)``: the raw second moment shrunk by Ledoit-Wolf, OAS or a fixed value towards ``mu I``."""
    S, fourth, p = raw["S"], raw["fourth"], raw["p"]
    m = len(S)
    mu = np.trace(S) / m
    if shrinkage == "ledoit_wolf":
        delta_ = float((S**2).sum())
        beta = (fourth / p - delta_) / (m * p)
        delta = (delta_ - 2.0 * mu * np.trace(S) + m * mu**2) / m
        beta = min(beta, delta)
        value = 0.0 if beta == 0 else beta / delta
        label = "Ledoit-Wolf"
    elif shrinkage == "oas":
        alpha = float(np.mean(S**2))
        den = (p + 1) * (alpha - mu**2 / m)
        value = 1.0 if den == 0 else min((alpha + mu**2) / den, 1.0)
        label = "OAS"
    else:
        try:
            value = float(shrinkage)
        except (TypeError, ValueError):
            value = -1.0
        if not 0 <= value < 1:
            raise PsychofaceError(
                f"shrinkage {shrinkage!r}: use ledoit_wolf, oas or a number in [0, 1), e.g. 0.1"
            )
        label = "fixed"
    out = (1.0 - value) * S
    out[np.diag_indices(m)] += value * mu
    return out, {"shrinkage": float(value), "shrinkage_method": label, "rank": raw["rank"]}


def affine_invariant_distance(A: np.ndarray, B: np.ndarray, scale: str = "fixed") -> float:
    """Affine-invariant distance ``sqrt(sum log^2 eig(B, A))`` (``scale="free"``: minimised over a factor)."""
    logs = np.log(eigh(B, A, eigvals_only=True))
    if scale == "free":
        logs = logs - logs.mean()
    return float(np.sqrt((logs**2).sum()))


def spd_log(A: np.ndarray) -> np.ndarray:
    """Matrix logarithm of a symmetric positive-definite matrix (eigendecomposition)."""
    lam, V = np.linalg.eigh(A)
    return (V * np.log(lam)) @ V.T


def log_euclidean_distance(A: np.ndarray, B: np.ndarray, scale: str = "fixed") -> float:
    """Log-Euclidean distance ``||log A - log B||_F`` (``scale="free"``: minimised over a factor)."""
    D = spd_log(A) - spd_log(B)
    sq = float((D**2).sum())
    if scale == "free":
        sq -= np.trace(D) ** 2 / len(D)
    return float(np.sqrt(max(sq, 0.0)))


def _null_affine(SA, SB, Q, perms, scale):
    """Affine-invariant distances between SB and SA with its stimuli permuted, one per permutation."""
    L = np.linalg.cholesky(SA)
    F = Q @ L  # n x m, F F' = Q SA Q'
    lam, V = np.linalg.eigh(SB)
    R = (V / np.sqrt(lam)) @ V.T @ Q.T  # SB^(-1/2) Q'
    out = np.empty(len(perms))
    for b, perm in enumerate(perms):
        C = R @ F[perm]
        logs = np.log(np.linalg.eigvalsh(C @ C.T))
        if scale == "free":
            logs -= logs.mean()
        out[b] = np.sqrt((logs**2).sum())
    return out


def _null_log_euclidean(SA, SB, Q, perms, scale):
    LA = Q @ spd_log(SA) @ Q.T
    LB = Q @ spd_log(SB) @ Q.T
    const = float((LA**2).sum() + (LB**2).sum())
    trace = np.trace(LA) - np.trace(LB)
    out = np.empty(len(perms))
    for b, perm in enumerate(perms):
        sq = const - 2.0 * float((LA[np.ix_(perm, perm)] * LB).sum())
        if scale == "free":
            sq -= trace**2 / Q.shape[1]
        out[b] = np.sqrt(max(sq, 0.0))
    return out


def riemannian_rsa(
    layers,
    ids,
    *,
    metric: str = "affine",
    scale: str = "free",
    shrinkage="ledoit_wolf",
    n_permutations: int = 1000,
    correction: str = "holm",
    seed: int = 0,
    chunk_size: int = 4096,
) -> pd.DataFrame:
    """Riemannian RSA between every pair of layers (or models): one row per pair.

    ``layers``: mapping name -> (n_stimuli x n_features) array, rows in the order of ``ids``. Columns:
    ``layer_a, layer_b, metric, n, distance, z, p, p_corr, shrinkage_a, shrinkage_b``.
    """
    if metric not in METRICS:
        raise PsychofaceError(f"unknown Riemannian metric {metric!r}: use {' or '.join(METRICS)}")
    if scale not in ("free", "fixed"):
        raise PsychofaceError(f"unknown scale {scale!r}: use free or fixed")
    if len(layers) < 2:
        raise PsychofaceError("Riemannian RSA compares representations: give at least two layers or models")
    ids = [str(i) for i in ids]
    n = len(ids)
    moments = {k: second_moment(X, ids, name=k, shrinkage=shrinkage, chunk_size=chunk_size)
               for k, X in layers.items()}
    Q = helmert_basis(n)
    dist = affine_invariant_distance if metric == "affine" else log_euclidean_distance
    null_fn = _null_affine if metric == "affine" else _null_log_euclidean
    rows = []
    for a, b in itertools.combinations(layers, 2):
        (SA, ia), (SB, ib) = moments[a], moments[b]
        d = dist(SA, SB, scale)
        z = p = np.nan
        if n_permutations:
            null = np.concatenate([null_fn(SA, SB, Q, perms, scale)
                                   for perms in permutation_blocks(seed, n, n_permutations)])
            p = float(permutation_p(d, null, "less"))
            z = float((d - null.mean()) / null.std(ddof=1)) if n_permutations > 1 else np.nan
        rows.append({"layer_a": a, "layer_b": b, "metric": metric, "n": n, "distance": d, "z": z, "p": p,
                     "shrinkage_a": ia["shrinkage"], "shrinkage_b": ib["shrinkage"]})
    df = pd.DataFrame(rows)
    df.insert(df.columns.get_loc("p") + 1, "p_corr", correct_p(df["p"].to_numpy(), correction))
    labels = {info["shrinkage_method"] for _, info in moments.values()}
    df.attrs["psychoface"] = {
        "analysis": "riemannian_rsa",
        "seed": seed,
        "metric": metric,
        "scale": scale,
        "shrinkage": shrinkage,
        "shrinkage_method": ", ".join(sorted(labels)),
        "second_moment": "stimulus second-moment matrix of the features in the stimulus-centred subspace "
        "(n - 1 Helmert contrasts), features as samples",
        "n_permutations": n_permutations,
        "ci_level": None,
        "ci_method": "none",
        "p_method": "permutation of the stimuli of one representation, one-sided (smaller distance), "
        "p = (b + 1)/(N + 1); z = (d - mean of the null) / SD of the null"
        if n_permutations else "none",
        "correction": correction_label(correction),
        "family": f"{len(rows)} pair{'s' * (len(rows) != 1)} of representations",
    }
    return df


def shrinkage_sensitivity(layers, ids, *, metric: str = "affine", scale: str = "free",
                          shrinkages=SHRINKAGE_GRID + ("ledoit_wolf", "oas")) -> pd.DataFrame:
    """Distance between every pair of layers under each shrinkage (fixed values, Ledoit-Wolf, OAS)."""
    ids = [str(i) for i in ids]
    dist = affine_invariant_distance if metric == "affine" else log_euclidean_distance
    raw = {k: raw_second_moment(X, ids, name=k) for k, X in layers.items()}
    rows = []
    for s in shrinkages:
        moments = {k: shrink(r, s) for k, r in raw.items()}
        for a, b in itertools.combinations(layers, 2):
            rows.append({"layer_a": a, "layer_b": b, "shrinkage": str(s),
                         "shrinkage_a": moments[a][1]["shrinkage"], "shrinkage_b": moments[b][1]["shrinkage"],
                         "distance": dist(moments[a][0], moments[b][0], scale)})
    df = pd.DataFrame(rows)
    df.attrs["psychoface"] = {"analysis": "shrinkage_sensitivity", "seed": None, "metric": metric, "scale": scale}
    return df
