"""The Mantel permutation engine of RSA: the statistic of every permutation of one RDM's stimulus labels
against fixed RDMs, without building permuted RDMs.

Each permutation's statistic is the inner product of the fixed (standardised) vectors with the permuted
one, gathered from the square matrix in cache-sized row blocks (Mantel, 1967; the standardised form of
the Spearman/Pearson statistic as in Nili et al., 2014). Kendall's tau-a goes to the compiled count of
:mod:`psychoface.analyses.kendall`.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.spatial.distance import squareform
from scipy.stats import rankdata
from threadpoolctl import threadpool_limits

from psychoface.analyses import kendall
from psychoface.errors import PsychofaceError

GATHER_ELEMENTS = 1 << 16  # entries gathered per block (cache-sized)
_FIXED_BYTES = 512 * 2**20  # fixed RDM vectors laid out for the gather, per pass
_PERM_BATCH = 256


def n_from_pairs(m: int) -> int:
    """The number of stimuli of an RDM vector of ``m`` pairs."""
    return int(round((1 + np.sqrt(1 + 8 * m)) / 2))


def standardise(v: np.ndarray, method: str, name: str = "") -> np.ndarray:
    """Ranks (Spearman) or values (Pearson), centred and scaled to unit norm."""
    v = rankdata(v) if method == "spearman" else np.asarray(v, dtype=np.float64)
    v = v - v.mean()
    norm = np.sqrt(np.dot(v, v))
    if norm == 0:
        raise PsychofaceError(f"RDM {name!r} is constant (all dissimilarities equal); it cannot be correlated")
    return v / norm


def one_blas_thread(func):
    """Run ``func`` with one BLAS thread: its products are small and memory-bound, and threaded BLAS on
    such products mostly waits on synchronisation (badly so on a busy machine)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return func(*args, **kwargs)

    return wrapper


@one_blas_thread
def mantel_null(permuted, fixed, kind, n_permutations, seed_seq) -> np.ndarray:
    """(N, len(fixed)) statistics with the stimulus labels of ``permuted`` permuted.

    Permutation k is the k-th ``rng.permutation(n)`` of ``numpy.random.default_rng(seed_seq)``.
    ``kind="standardised"``: all vectors are standardised (:func:`standardise`) and the statistic is the
    inner product of each fixed vector with the permuted one; ``kind="tau-a"``: the raw permuted vector and
    :class:`psychoface.analyses.kendall.TauFixed` fixed vectors, Kendall's tau-a.
    """
    n = n_from_pairs(len(permuted))
    if kind == "tau-a":
        return np.stack([kendall.permutation_null(permuted, f, np.random.default_rng(seed_seq), n_permutations)
                         for f in fixed], axis=1).reshape(n_permutations, len(fixed))
    square = squareform(permuted, checks=False)
    blocks = _row_blocks(n)
    per_pass = max(1, _FIXED_BYTES // (8 * sum((r1 - r0) * (n - r0) for r0, r1 in blocks)))
    out = np.empty((n_permutations, len(fixed)))
    for q0 in range(0, len(fixed), per_pass):  # the same permutations for every pass
        q1 = min(len(fixed), q0 + per_pass)
        layout = _fixed_layout(fixed[q0:q1], n, blocks)
        rng = np.random.default_rng(seed_seq)
        for s in range(0, n_permutations, _PERM_BATCH):
            perms = np.stack([rng.permutation(n) for _ in range(min(_PERM_BATCH, n_permutations - s))])
            out[s : s + len(perms), q0:q1] = _permuted_products(square, layout, blocks, perms)
    return out


def _row_blocks(n: int) -> list[tuple[int, int]]:
    """Blocks of rows of the upper triangle, each about GATHER_ELEMENTS entries (one block if n is small)."""
    if n * n <= GATHER_ELEMENTS:
        return [(0, n)]
    rows = max(1, GATHER_ELEMENTS // n)
    return [(r0, min(n, r0 + rows)) for r0 in range(0, n, rows)]


def _fixed_layout(fixed, n, blocks) -> list[np.ndarray]:
    """For each row block [r0, r1): a (q, (r1-r0)*(n-r0)) array of the fixed vectors' upper triangle
    (zeros on and below the diagonal), matching the gathered block square[perm[r0:r1]][:, perm[r0:]]."""
    layout = [np.empty((len(fixed), (r1 - r0) * (n - r0))) for r0, r1 in blocks]
    for k, f in enumerate(fixed):
        upper = np.triu(squareform(f, checks=False), 1)
        for (r0, r1), arr in zip(blocks, layout):
            arr[k] = upper[r0:r1, r0:].ravel()
    return layout


def _permuted_products(square, layout, blocks, perms) -> np.ndarray:
    """sum_{i<j} fixed_k[i, j] * square[perm_i, perm_j] for every permutation (rows) and fixed k."""
    n = square.shape[0]
    if len(blocks) == 1:  # small n: gather many permutations at once, one matrix product
        flat = layout[0]
        out = np.empty((len(perms), flat.shape[0]))
        step = max(1, GATHER_ELEMENTS // (n * n))
        for s in range(0, len(perms), step):
            p = perms[s : s + step]
            out[s : s + len(p)] = square[p[:, :, None], p[:, None, :]].reshape(len(p), -1) @ flat.T
        return out
    out = np.zeros((len(perms), layout[0].shape[0]))
    rows_buf = np.empty((blocks[0][1] - blocks[0][0], n))
    cols_buf = np.empty(layout[0].shape[1])
    for k, perm in enumerate(perms):
        acc = out[k]
        for (r0, r1), flat in zip(blocks, layout):
            rows = rows_buf[: r1 - r0]
            np.take(square, perm[r0:r1], axis=0, out=rows, mode="wrap")  # "wrap": unbuffered
            cols = cols_buf[: flat.shape[1]].reshape(r1 - r0, n - r0)
            np.take(rows, perm[r0:], axis=1, out=cols, mode="wrap")
            acc += flat @ cols.ravel()
    return out
