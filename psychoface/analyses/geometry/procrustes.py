"""Generalised shape metrics between representations (Williams et al., 2021).

The Procrustes angular distance between two representations of the same n stimuli is
``arccos(||Xc' Yc||_* / (||Xc||_F ||Yc||_F))`` on the column-centred matrices (``||.||_*``: nuclear
norm): the angle between them after the best rotation of one onto the other (with zero-padding of the
narrower one). It equals the Bures angle between the stimulus Gram matrices ``Xc Xc'`` and ``Yc Yc'``:
with ``F = tr((A^1/2 B A^1/2)^1/2)`` (the fidelity, equal to the nuclear norm), the Bures-Wasserstein
distance between the trace-normalised matrices is ``sqrt(2 - 2 cos theta)`` (Bhatia, Jain & Lim, 2019),
so the angle needs no full-rank matrix and handles the low rank of a rating matrix.

Everything runs in the data span: ``Xc = U_x O_x'`` with ``U_x U_x' = Xc Xc'`` (coordinates from the
Gram matrix's eigendecomposition, :mod:`.span`), so ``||Xc' Yc||_* = ||U_x' U_y||_*`` at the cost of a
(rank_x x rank_y) singular value decomposition per fit.

Inference: the rows (stimuli) of the second representation are permuted, p = (b + 1)/(N + 1) one-sided
(a smaller angle is more similar), with the max-statistic (single-step minP over the smallest angle)
correction across the layers compared with the same target (Westfall & Young, 1993).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from psychoface.analyses.geometry.span import gram, gram_coordinates, permutation_blocks
from psychoface.analyses.inference import permutation_p
from psychoface.analyses.predict import check_finite, check_ratings
from psychoface.errors import PsychofaceError

_BLOCK = 64  # permutations stacked in one matrix product


def centred_coordinates(X, ids, name: str = "layer", chunk_size: int = 4096) -> np.ndarray:
    """``U`` with ``U U' = Xc Xc'`` (columns of X centred over stimuli), rank columns; refuses a constant X."""
    n, D = X.shape
    if D <= n:
        U = np.asarray(X, dtype=np.float64)
        check_finite(U, ids, 0)
        U = U - U.mean(axis=0)
    else:
        G = gram(X, ids, chunk_size)
        s = G.sum(axis=1) / n
        U = gram_coordinates(G - s[:, None] - s[None, :] + s.mean())
    if not np.any(U):
        raise PsychofaceError(f"{name}: every stimulus has the same values; a constant representation has no shape")
    return U


def procrustes_angle(U: np.ndarray, V: np.ndarray) -> float:
    """Procrustes angular distance (radians) between two centred representations (or their span coordinates)."""
    nuc = np.linalg.svd(U.T @ V, compute_uv=False).sum()
    return float(np.arccos(np.clip(nuc / (np.linalg.norm(U) * np.linalg.norm(V)), -1.0, 1.0)))


def shape_distances(
    layers,
    target,
    ids,
    *,
    target_name: str = "ratings",
    n_permutations: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Procrustes angular distance of every layer to ``target`` (a ratings DataFrame or another layer).

    One row per layer: ``layer, target, n, distance, p, p_corr`` (``p_corr``: max-statistic correction
    across the layers). Ratings must be complete (a face without a rating is left out of every row).
    """
    ids = [str(i) for i in ids]
    if isinstance(target, pd.DataFrame):
        _, names, T = check_ratings(target, None)
        keep = ~np.isnan(T).any(axis=1)
        T = T[keep]
    else:
        T = np.asarray(target)
        keep = np.ones(len(ids), dtype=bool)
    if keep.sum() < 3:
        raise PsychofaceError(f"{target_name}: {int(keep.sum())} stimuli with every value; need at least 3")
    kept_ids = [i for i, k in zip(ids, keep) if k]
    V = centred_coordinates(T, kept_ids, target_name)
    n = len(kept_ids)
    names, est, nulls = [], [], []
    for layer, X in layers.items():
        if X.shape[0] != len(ids):
            raise PsychofaceError(f"layer {layer!r} has {X.shape[0]} stimuli for {len(ids)} ids; align the inputs")
        sub = X if keep.all() else X[np.flatnonzero(keep)]
        U = centred_coordinates(sub, kept_ids, layer)
        names.append(layer)
        est.append(procrustes_angle(U, V))
        nulls.append(np.concatenate([_null(U, V, perms) for perms in permutation_blocks(seed, n, n_permutations)])
                     if n_permutations else np.empty(0))
    est = np.array(est)
    p = np.full(len(names), np.nan)
    p_corr = np.full(len(names), np.nan)
    if n_permutations:
        null = np.array(nulls).T  # permutations x layers
        p = permutation_p(est, null, "less")
        p_corr = permutation_p(est, np.broadcast_to(null.min(axis=1)[:, None], null.shape), "less")
    df = pd.DataFrame({"layer": names, "target": target_name, "n": n, "distance": est, "p": p, "p_corr": p_corr})
    df.attrs["psychoface"] = {
        "analysis": "shape_metric",
        "seed": seed,
        "metric": "Procrustes angular distance (radians) on column-centred representations",
        "n_permutations": n_permutations,
        "ci_level": None,
        "ci_method": "none",
        "p_method": "permutation of the stimuli of the target, one-sided (smaller angle), p = (b + 1)/(N + 1)"
        if n_permutations else "none",
        "correction": "max-statistic" if n_permutations else "none",
        "correction_method": "single-step max-statistic (the smallest permuted angle over the layers)",
        "family": f"{len(names)} layer{'s' * (len(names) != 1)} against the {target_name}",
    }
    return df


def _null(U, V, perms):
    """Procrustes angles of U against V with its rows permuted, one per permutation."""
    scale = np.linalg.norm(U) * np.linalg.norm(V)
    out = np.empty(len(perms))
    for b0 in range(0, len(perms), _BLOCK):
        block = perms[b0 : b0 + _BLOCK]
        M = np.einsum("nr,bnq->brq", U, V[block])  # batched U' V_perm
        nuc = np.linalg.svd(M, compute_uv=False).sum(axis=1)
        out[b0 : b0 + len(block)] = np.arccos(np.clip(nuc / scale, -1.0, 1.0))
    return out
