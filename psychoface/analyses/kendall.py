"""Kendall's tau-a of RDM vectors, compiled: the observed value, Mantel permutations and stimulus resamples.

tau-a = (C - D) / (M(M - 1)/2) over the M entries of two vectors (Kendall, 1938), C and D the concordant and
discordant pairs of entries; pairs tied in either vector count in neither (Nili et al., 2014, recommend tau-a
for RDMs with tied dissimilarities).

Method: the entries are visited in the order of the fixed vector ``f`` (the rating RDM), and the other
vector's values, as dense ranks 1..K, are counted in a Fenwick tree (binary indexed tree; Fenwick, 1994).
For each entry, the tree gives how much of what came before is smaller and how much is larger, so
C - D = sum over entries of w * (smaller - larger), in O(M log K). Entries tied in ``f`` are queried as a
group before any of them is inserted, so pairs tied in ``f`` count in neither C nor D; pairs tied in the
other vector are neither smaller nor larger. The counts are whole numbers (int64): exact, no tie-correction
formula.

- Permutations (Mantel): permuting the stimulus labels of the layer RDM only rearranges its entries, so its
  dense ranks are computed once (an n x n matrix of int32 ranks) and each permutation gathers them in the
  fixed vector's order.
- Bootstrap over stimuli: a resample is the original pairs of distinct stimuli weighted by c_i c_j (c = how
  often each stimulus was drawn; the pair of a stimulus with its own copy is dropped, as in
  :mod:`psychoface.analyses.rsa`). Copies of one pair are tied in both vectors and count in neither C nor
  D, so the weighted count above is exactly tau-a of the explicitly resampled vectors, with M = sum of the
  weights. Both vectors stay in their fixed order for every resample; only the weights change, and pairs
  with weight 0 (about 60% of them) are skipped.

Permutations and resamples run in parallel threads (numba ``prange``; ``NUMBA_NUM_THREADS`` sets how many).

Fenwick, P. M. (1994). A new data structure for cumulative frequency tables. *Software: Practice and
Experience, 24*(3), 327-336. https://doi.org/10.1002/spe.4380240306
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

BATCH = 512  # permutations or resamples per call (bounds the (batch, n) index and count arrays)


class TauFixed:
    """A fixed vector ``f`` prepared for tau-a: its sort order and tie groups, and the pairs' stimuli in
    that order (for gathering a permuted layer RDM and for resampling weights)."""

    def __init__(self, f: np.ndarray, n: int):
        f = np.asarray(f, dtype=np.float64)
        self.order = np.argsort(f, kind="stable")
        sf = f[self.order]
        self.starts = np.flatnonzero(np.concatenate([[True], sf[1:] != sf[:-1], [True]])).astype(np.int64)
        i, j = pair_indices(n)
        self.i = i[self.order].astype(np.int32)
        self.j = j[self.order].astype(np.int32)
        self.n = n


def dense_ranks(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense ranks 1..K of ``x`` (equal values share a rank; int32) and K."""
    values, inverse = np.unique(np.asarray(x, dtype=np.float64), return_inverse=True)
    return (inverse + 1).astype(np.int32), int(values.size)


def pair_indices(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of every entry of the condensed upper triangle (like np.triu_indices(n, 1))."""
    counts = np.arange(n - 1, 0, -1)
    i = np.repeat(np.arange(n - 1), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return i, np.arange(i.size) - np.repeat(starts, counts) + i + 1


def tau_a(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-a of two equal-length vectors; NaN when either is constant (or shorter than 2)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    m = a.size
    if m < 2:
        return float("nan")
    order = np.argsort(b, kind="stable")
    sb = b[order]
    starts = np.flatnonzero(np.concatenate([[True], sb[1:] != sb[:-1], [True]])).astype(np.int64)
    ranks, k = dense_ranks(a)
    if k < 2 or starts.size < 3:
        return float("nan")
    s = _count(ranks[order], np.ones(m, dtype=np.int64), starts, np.zeros(k + 1, np.int64),
               np.zeros(k + 1, np.int64))
    return float(s / (m * (m - 1) / 2.0))


def permutation_null(x: np.ndarray, fixed: TauFixed, rng: np.random.Generator, n_permutations: int) -> np.ndarray:
    """tau-a of ``fixed`` with ``x`` whose stimulus labels are permuted: the k-th permutation is the k-th
    ``rng.permutation(n)``. Returns (n_permutations,) values."""
    from scipy.spatial.distance import squareform

    n = fixed.n
    ranks, k = dense_ranks(x)
    square = squareform(ranks, checks=False).astype(np.int32)
    out = np.empty(n_permutations)
    if k < 2 or fixed.starts.size < 3:
        out[:] = np.nan
        return out
    for s in range(0, n_permutations, BATCH):
        perms = np.stack([rng.permutation(n) for _ in range(min(BATCH, n_permutations - s))]).astype(np.int32)
        out[s : s + len(perms)] = _permuted(square, fixed.i, fixed.j, fixed.starts, perms, k, _chunks(len(perms)))
    return out


def ranked(x: np.ndarray, fixed: TauFixed) -> tuple[np.ndarray, int]:
    """Dense ranks of ``x`` in the fixed vector's order, and their number K (for :func:`bootstrap`)."""
    ranks, k = dense_ranks(x)
    return ranks[fixed.order], k


def bootstrap(x_ranked: tuple[np.ndarray, int], fixed: TauFixed, counts: np.ndarray) -> np.ndarray:
    """tau-a of x (``x_ranked = ranked(x, fixed)``) and the fixed vector in each resample (rows of
    ``counts``: how often each stimulus was drawn); NaN where either vector is constant among the drawn
    pairs."""
    ranks, k = x_ranked
    return _resampled(ranks, fixed.i, fixed.j, fixed.starts, np.ascontiguousarray(counts, dtype=np.int64), k,
                      _chunks(len(counts)))


@njit(cache=True, nogil=True)
def _count(ranks, w, starts, tree, seen_at):
    """sum over pairs of entries p before q (in ``f`` order) not tied in f of w_p w_q sign(x_q - x_p);
    ``ranks``: dense ranks of x, ``starts``: where each tie group of f starts (and the end), ``tree`` and
    ``seen_at``: zeroed int64 work arrays of K + 1. Entries with weight 0 are skipped."""
    k = tree.size - 1
    total = 0
    seen = 0
    for g in range(starts.size - 1):
        for e in range(starts[g], starts[g + 1]):
            we = w[e]
            if we == 0:
                continue
            r = ranks[e]
            less = 0
            i = r - 1
            while i > 0:
                less += tree[i]
                i -= i & -i
            total += we * (2 * less + seen_at[r] - seen)  # smaller - larger = less - (seen - less - equal)
        for e in range(starts[g], starts[g + 1]):
            we = w[e]
            if we == 0:
                continue
            r = ranks[e]
            seen += we
            seen_at[r] += we
            i = r
            while i <= k:
                tree[i] += we
                i += i & -i
    return total


@njit(cache=True, parallel=True)
def _permuted(square, fi, fj, starts, perms, k, chunks):
    m = fi.size
    n0 = m * (m - 1) / 2.0
    out = np.empty(perms.shape[0])
    for c in prange(chunks.size - 1):  # work arrays allocated once per chunk, zeroed per permutation
        ranks = np.empty(m, np.int32)
        ones = np.ones(m, np.int64)
        tree = np.empty(k + 1, np.int64)
        seen_at = np.empty(k + 1, np.int64)
        for b in range(chunks[c], chunks[c + 1]):
            p = perms[b]
            for e in range(m):
                ranks[e] = square[p[fi[e]], p[fj[e]]]
            tree[:] = 0
            seen_at[:] = 0
            out[b] = _count(ranks, ones, starts, tree, seen_at) / n0
    return out


@njit(cache=True, parallel=True)
def _resampled(ranks, fi, fj, starts, counts, k, chunks):
    m = fi.size
    out = np.empty(counts.shape[0])
    for c in prange(chunks.size - 1):
        w = np.empty(m, np.int64)
        tree = np.empty(k + 1, np.int64)
        seen_at = np.empty(k + 1, np.int64)
        for b in range(chunks[c], chunks[c + 1]):
            cb = counts[b]
            total = 0
            lo, hi = k + 1, 0
            groups = 0
            for g in range(starts.size - 1):
                weight = 0
                for e in range(starts[g], starts[g + 1]):
                    we = cb[fi[e]] * cb[fj[e]]
                    w[e] = we
                    weight += we
                    if we > 0:
                        lo = min(lo, ranks[e])
                        hi = max(hi, ranks[e])
                total += weight
                groups += weight > 0
            if groups < 2 or lo >= hi:  # a vector constant among the drawn pairs: tau-a undefined
                out[b] = np.nan
                continue
            tree[:] = 0
            seen_at[:] = 0
            out[b] = _count(ranks, w, starts, tree, seen_at) / (total * (total - 1) / 2.0)
    return out


def _chunks(size: int) -> np.ndarray:
    """Boundaries of about 4 chunks per thread over ``size`` items."""
    parts = max(1, min(size, 4 * numba.get_num_threads()))
    return np.linspace(0, size, parts + 1).astype(np.int64)
