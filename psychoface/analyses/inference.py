"""Shared inferential helpers: permutation p-values, percentile bootstrap CIs and corrections
for multiple comparisons.

Conventions (DESIGN.md): a permutation p-value is (b + 1) / (N + 1), where b counts permuted
statistics at least as extreme as the observed one (Phipson & Smyth, 2010); corrections across a
named family use Holm (1979) by default or Benjamini & Hochberg (1995) on request, computed with
:func:`statsmodels.stats.multitest.multipletests`.
"""

from __future__ import annotations

import numpy as np
from statsmodels.stats.multitest import multipletests

from psychoface.errors import PsychofaceError

CORRECTIONS = {
    "holm": ("holm", "Holm"),
    "fdr_bh": ("fdr_bh", "Benjamini-Hochberg"),
    "bonferroni": ("bonferroni", "Bonferroni"),
    "none": (None, "none"),
}


def correction_label(method: str) -> str:
    """Human-readable name of a correction method, e.g. ``"Holm"``."""
    _check_method(method)
    return CORRECTIONS[method][1]


def _check_method(method: str) -> None:
    if method not in CORRECTIONS:
        raise PsychofaceError(
            f"unknown correction {method!r}: use one of {', '.join(CORRECTIONS)}"
        )


def correct_p(p: np.ndarray, method: str = "holm") -> np.ndarray:
    """Adjust a family of p-values; NaN entries are left out of the family and stay NaN.

    Adjusted values are capped at 1 (unlike Net2Brain's Bonferroni, see ANCHORS.md).
    """
    _check_method(method)
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if not ok.any():
        return out
    if CORRECTIONS[method][0] is None:
        out[ok] = p[ok]
    else:
        out[ok] = multipletests(p[ok], method=CORRECTIONS[method][0])[1]
    return np.minimum(out, 1.0)


def permutation_p(observed, null, alternative: str = "two-sided") -> np.ndarray:
    """Permutation p-value (b + 1) / (N + 1).

    ``observed`` has shape ``(...)``; ``null`` has shape ``(N, ...)`` with one row per permutation.
    ``alternative`` is ``"two-sided"`` (compares absolute values), ``"greater"`` or ``"less"``.
    """
    observed = np.asarray(observed, dtype=float)
    null = np.asarray(null, dtype=float)
    n = null.shape[0]
    # a tiny tolerance so that permutations reproducing the observed value count as "as extreme"
    tol = 1e-12 * np.maximum(1.0, np.abs(observed))
    if alternative == "two-sided":
        b = (np.abs(null) >= np.abs(observed) - tol).sum(axis=0)
    elif alternative == "greater":
        b = (null >= observed - tol).sum(axis=0)
    elif alternative == "less":
        b = (null <= observed + tol).sum(axis=0)
    else:
        raise PsychofaceError(
            f"unknown alternative {alternative!r}: use two-sided, greater or less"
        )
    return (b + 1.0) / (n + 1.0)


def percentile_ci(boot, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval over axis 0 of ``boot`` (NaN replicates ignored)."""
    if not 0 < level < 1:
        raise PsychofaceError(f"confidence level {level} must lie between 0 and 1, e.g. 0.95")
    boot = np.asarray(boot, dtype=float)
    alpha = (1.0 - level) / 2.0
    low = np.nanquantile(boot, alpha, axis=0)
    high = np.nanquantile(boot, 1.0 - alpha, axis=0)
    return low, high


def resample_counts(rng: np.random.Generator, size: int, n: int) -> np.ndarray:
    """How often each of ``n`` stimuli is drawn in each of ``size`` bootstrap resamples.

    Indices are drawn as ``floor(rng.random((size, n)) * n)``; returns a (size, n) float array of
    counts, so that a resampled mean of per-stimulus terms ``T`` is ``counts @ T / n``.
    """
    idx = (rng.random((size, n)) * n).astype(np.intp)
    flat = (idx + n * np.arange(size)[:, None]).ravel()
    return np.bincount(flat, minlength=size * n).reshape(size, n).astype(float)


def spearman_brown(r, factor: float = 2.0):
    """Spearman-Brown prophecy: reliability of a test ``factor`` times as long (Brown, 1910; Spearman, 1910)."""
    r = np.asarray(r, dtype=float)
    return factor * r / (1.0 + (factor - 1.0) * r)
