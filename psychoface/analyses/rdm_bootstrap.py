"""Stimulus-bootstrap RDM correlations (Spearman's rho, Pearson's r), compiled, in blocks of resamples.

A resample of n stimuli is the original pairs of distinct stimuli weighted by w = c_i c_j (c = how often
each stimulus was drawn; the pair of a stimulus with its own copy is dropped; Nili et al., 2014), so its RDM
correlation is a weighted correlation over the m = n(n - 1)/2 original pairs, with M = sum(w) =
((sum c)^2 - sum(c^2))/2 entries.

- Spearman: the mid-ranks of the explicitly resampled vector. In the vector's fixed sort order, a run of
  equal values (a tie group g, with total weight W_g) whose predecessors weigh S_g has the mid-rank
  S_g + (W_g + 1)/2; ranks are centred on their mean (M + 1)/2, which is known, so nothing cancels. The
  sort order, tie groups and pair indices are prepared once per vector (:class:`Prepared`); per resample
  there are two sequential passes, one in each vector's order: the first writes the layer vector's centred
  group ranks, the second accumulates the rating vector's ranks times the layer ranks of the same pairs.
  A block of B resamples shares each pass (the pair indices, the group structure and the counts of all B
  resamples are read once per pair; the B layer ranks of a pair lie side by side), and blocks run in
  parallel threads (numba ``prange``; ``NUMBA_NUM_THREADS``). Work memory: (number of tie groups of the
  layer vector) x B float64 per thread, B chosen to keep it under :data:`WORK_BYTES`.
- Pearson: one pass over the pairs per resample accumulating the weighted sums of x, y, x^2, y^2 and xy
  of the (once standardised) vectors.

Both equal the correlation of the explicitly resampled vectors (tests/test_rsa.py and
tests/test_rdm_bootstrap.py check them against scipy on explicit resamples). A correlation is NaN when either
vector is constant among the drawn pairs.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from psychoface.analyses.kendall import pair_indices

WORK_BYTES = 128 * 2**20  # per thread: the layer ranks of one block of resamples
MAX_BLOCK = 16  # resamples per block (16 float32 layer ranks of a pair: one 64-byte cache line)


class Prepared:
    """One RDM vector prepared for Spearman resampling: the pair indices in its sort order, where each tie
    group starts (and the end), and the tie group of every entry in the original pair order."""

    def __init__(self, v: np.ndarray, n: int):
        v = np.asarray(v, dtype=np.float64)
        self.order = np.argsort(v, kind="stable")
        sv = v[self.order]
        self.starts = np.flatnonzero(np.concatenate([[True], sv[1:] != sv[:-1], [True]])).astype(np.int64)
        i, j = pair_indices(n)
        self.i = i[self.order].astype(np.int32)
        self.j = j[self.order].astype(np.int32)
        self.group = np.empty(v.size, dtype=np.int32)
        self.group[self.order] = np.repeat(np.arange(self.starts.size - 1, dtype=np.int32), np.diff(self.starts))

    @property
    def n_groups(self) -> int:
        return self.starts.size - 1


def spearman(x: Prepared, y: Prepared, counts: np.ndarray) -> np.ndarray:
    """Spearman's rho of x and y in each resample (rows of ``counts``)."""
    counts = np.ascontiguousarray(counts, dtype=np.float64)
    threads = numba.get_num_threads()
    n = counts.shape[1]
    # centred mid-ranks are multiples of 1/2 below M/2 < n^2/4 in size: exact in float32 while n^2/2 < 2^24
    dtype = np.float32 if n * n < 2**25 else np.float64
    block = int(max(1, min(MAX_BLOCK, WORK_BYTES // (np.dtype(dtype).itemsize * x.n_groups))))
    chunks = np.linspace(0, len(counts), max(1, min(len(counts), threads)) + 1).astype(np.int64)
    gx = x.group[y.order]  # the layer vector's tie group of each entry, in the rating vector's order
    return _spearman(x.i, x.j, x.starts, y.i, y.j, y.starts, gx, counts, chunks,
                     np.empty((len(chunks) - 1, x.n_groups, block), dtype))


def pearson(x: np.ndarray, y: np.ndarray, n: int, counts: np.ndarray) -> np.ndarray:
    """Pearson's r of x and y (standardised once: centred, unit norm) in each resample."""
    i, j = pair_indices(n)
    counts = np.ascontiguousarray(counts, dtype=np.float64)
    return _pearson(np.asarray(x, np.float64), np.asarray(y, np.float64), i.astype(np.int32), j.astype(np.int32),
                    counts)


@njit(cache=True, parallel=True)
def _spearman(xi, xj, xstarts, yi, yj, ystarts, gx, counts, chunks, work):
    """``work``: (chunks, groups of x, block) layer ranks, allocated by numpy (which asks the kernel for huge
    pages: the second pass reads them in random order)."""
    out = np.empty(counts.shape[0])
    block = work.shape[2]
    n = counts.shape[1]
    gxn = xstarts.size - 1
    for t in prange(chunks.size - 1):
        buf = work[t]
        c = np.empty((n, block))
        half = np.empty(block)
        cum = np.empty(block)
        ss_x = np.empty(block)
        ss_y = np.empty(block)
        s_xy = np.empty(block)
        w_g = np.empty(block)
        t_g = np.empty(block)
        for b0 in range(chunks[t], chunks[t + 1], block):
            nb = min(block, chunks[t + 1] - b0)
            for s in range(n):  # counts of the block, stimulus-major: one pair reads 2 x nb neighbours
                for b in range(nb):
                    c[s, b] = counts[b0 + b, s]
            for b in range(nb):
                tot = 0.0
                sq = 0.0
                for s in range(n):
                    tot += counts[b0 + b, s]
                    sq += counts[b0 + b, s] * counts[b0 + b, s]
                half[b] = ((tot * tot - sq) / 2.0 + 1.0) / 2.0  # (M + 1)/2, the mean rank
                cum[b] = 0.0
                ss_x[b] = 0.0
                ss_y[b] = 0.0
                s_xy[b] = 0.0
            for g in range(gxn):  # pass 1, layer order: centred mid-rank of each tie group
                for b in range(nb):
                    w_g[b] = 0.0
                for e in range(xstarts[g], xstarts[g + 1]):
                    ci = c[xi[e]]
                    cj = c[xj[e]]
                    for b in range(nb):
                        w_g[b] += ci[b] * cj[b]
                for b in range(nb):
                    r = cum[b] + (w_g[b] + 1.0) / 2.0 - half[b]
                    buf[g, b] = r
                    ss_x[b] += w_g[b] * r * r
                    cum[b] += w_g[b]
            for b in range(nb):
                cum[b] = 0.0
            for g in range(ystarts.size - 1):  # pass 2, rating order: its ranks times the layer ranks
                for b in range(nb):
                    w_g[b] = 0.0
                    t_g[b] = 0.0
                for e in range(ystarts[g], ystarts[g + 1]):
                    ci = c[yi[e]]
                    cj = c[yj[e]]
                    rx = buf[gx[e]]
                    for b in range(nb):
                        w = ci[b] * cj[b]
                        w_g[b] += w
                        t_g[b] += w * rx[b]
                for b in range(nb):
                    r = cum[b] + (w_g[b] + 1.0) / 2.0 - half[b]
                    ss_y[b] += w_g[b] * r * r
                    s_xy[b] += r * t_g[b]
                    cum[b] += w_g[b]
            for b in range(nb):
                denom = ss_x[b] * ss_y[b]
                out[b0 + b] = s_xy[b] / np.sqrt(denom) if denom > 0 else np.nan
    return out


@njit(cache=True, parallel=True)
def _pearson(x, y, pi, pj, counts):
    out = np.empty(counts.shape[0])
    for b in prange(counts.shape[0]):
        c = counts[b]
        sw = sx = sy = sxx = syy = sxy = 0.0
        for e in range(x.size):
            w = c[pi[e]] * c[pj[e]]
            if w == 0.0:
                continue
            wx = w * x[e]
            wy = w * y[e]
            sw += w
            sx += wx
            sy += wy
            sxx += wx * x[e]
            syy += wy * y[e]
            sxy += wx * y[e]
        vx = sxx - sx * sx / sw
        vy = syy - sy * sy / sw
        # a vector constant among the drawn pairs has (numerically) zero variance there
        if vx <= 1e-13 * sxx or vy <= 1e-13 * syy:
            out[b] = np.nan
        else:
            out[b] = (sxy - sx * sy / sw) / np.sqrt(vx * vy)
    return out
