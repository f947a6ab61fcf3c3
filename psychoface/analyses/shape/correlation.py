"""Correlation of a per-face shape score (distinctiveness, asymmetry, dimorphism) with ratings, with
permutation p, percentile bootstrap CI and optional covariates.

- Estimate: Pearson's r of the score with each attribute; with covariates, the partial correlation (both
  residualised on the covariates and an intercept, as pingouin's ``partial_corr``).
- p: ratings permuted over faces, p = (b + 1)/(N + 1) (Phipson & Smyth, 2010); with covariates, the
  Freedman-Lane permutation of the ratings' residuals from the covariates (Freedman & Lane, 1983; Anderson &
  Legendre, 1999), which keeps the covariates' relation to the ratings.
- CI: percentile bootstrap over faces. A resample weights each face by how often it was drawn, so its
  statistic is a frequency-weighted (partial) correlation; when the score depends on the sample (the mean
  shape, the group means) ``resampled`` recomputes it in every resample.
- Family: ``correction`` (Holm by default) across the attributes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from psychoface.analyses.inference import correct_p, correction_label, percentile_ci, permutation_p, resample_counts
from psychoface.errors import PsychofaceError

MIN_FACES = 5
_CHUNK = 500


def check_options(n_permutations: int, n_bootstrap: int, ci_level: float, correction: str) -> None:
    """Reject bad inference options before any work."""
    for name, value in (("n_permutations", n_permutations), ("n_bootstrap", n_bootstrap)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise PsychofaceError(f"{name}={value!r} is not valid: give a whole number of at least 0")
    if not 0 < ci_level < 1:
        raise PsychofaceError(f"ci_level={ci_level} must lie between 0 and 1, e.g. 0.95")
    correction_label(correction)


def streams(seed: int, n: int = 2) -> list[np.random.Generator]:
    """Independent generators for permutations and resamples, spawned from ``seed``."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def permutations(rng: np.random.Generator, size: int, n: int) -> np.ndarray:
    """(size, n) independent random permutations of 0..n-1."""
    return rng.permuted(np.tile(np.arange(n), (size, 1)), axis=1)


def _basis(C: np.ndarray | None, n: int) -> np.ndarray:
    """Orthonormal basis of the intercept and the covariate columns."""
    X = np.ones((n, 1)) if C is None else np.column_stack([np.ones(n), C])
    Q, R = np.linalg.qr(X)
    keep = np.abs(np.diag(R)) > 1e-10 * max(1.0, np.abs(R).max())
    return Q[:, keep]


def weighted_partial_r(x: np.ndarray, Y: np.ndarray, C: np.ndarray | None, W: np.ndarray) -> np.ndarray:
    """(B, m) frequency-weighted partial correlations of ``x`` ((n,) or (B, n)) with each column of ``Y``
    (n, m) given the covariates ``C`` (n, q) and an intercept, one row per weight vector of ``W`` (B, n)."""
    n = Y.shape[0]
    C1 = np.ones((n, 1)) if C is None else np.column_stack([np.ones(n), C])
    X = np.broadcast_to(x, W.shape)
    Cw = W[:, :, None] * C1[None]
    G = np.einsum("bnq,nr->bqr", Cw, C1)
    with np.errstate(all="ignore"):
        Ginv = np.linalg.pinv(G)
        by = Ginv @ np.einsum("bnq,nm->bqm", Cw, Y)
        ry = Y[None] - np.einsum("nq,bqm->bnm", C1, by)
        bx = np.einsum("bqr,br->bq", Ginv, np.einsum("bnq,bn->bq", Cw, X))
        rx = X - bx @ C1.T
        num = np.einsum("bn,bn,bnm->bm", W, rx, ry)
        den = np.sqrt(np.einsum("bn,bn->b", W, rx**2)[:, None] * np.einsum("bn,bnm->bm", W, ry**2))
        return num / den


def correlate_scores(
    score: np.ndarray,
    ratings: pd.DataFrame,
    *,
    covariates: pd.DataFrame | None = None,
    resampled: Callable[[np.ndarray], np.ndarray] | None = None,
    n_permutations: int = 10_000,
    n_bootstrap: int = 5_000,
    ci_level: float = 0.95,
    correction: str = "holm",
    seed: int = 0,
) -> pd.DataFrame:
    """Correlate a per-face score with every column of ``ratings`` (faces in the same order; module docstring).

    ``resampled(counts)``: for a (B, n) array of bootstrap counts, the (B, n) scores re-estimated in each
    resample (None: the score does not depend on the sample). Faces with a missing rating are left out of
    that attribute's test. Returns one row per attribute: attribute, n, r, ci_low, ci_high, p, p_corr.
    """
    check_options(n_permutations, n_bootstrap, ci_level, correction)
    score = np.asarray(score, dtype=float)
    Y = ratings.to_numpy(dtype=float)
    C = None if covariates is None or covariates.shape[1] == 0 else covariates.to_numpy(dtype=float)
    if C is not None and not np.isfinite(C).all():
        row, col = np.argwhere(~np.isfinite(C))[0]
        raise PsychofaceError(f"covariate {covariates.columns[col]!r} is missing for face {covariates.index[row]!r}; "
                              "give every face a value or drop the covariate")
    rows = []
    rng_perm, rng_boot = streams(seed)
    perm_state, boot_state = rng_perm.bit_generator.state, rng_boot.bit_generator.state
    masks: dict[bytes, list[int]] = {}
    for j in range(Y.shape[1]):
        masks.setdefault(np.isfinite(Y[:, j]).tobytes(), []).append(j)
    results: dict[int, tuple] = {}
    for key, cols in masks.items():
        keep = np.frombuffer(key, dtype=bool)
        n = int(keep.sum())
        q = 0 if C is None else C.shape[1]
        if n < MIN_FACES + q:
            names = ", ".join(str(ratings.columns[j]) for j in cols)
            raise PsychofaceError(f"{n} faces have ratings of {names}; this needs at least {MIN_FACES + q}: "
                                  "add faces or drop covariates")
        rng_perm.bit_generator.state, rng_boot.bit_generator.state = perm_state, boot_state
        est, null, boot = _one_mask(score[keep], Y[keep][:, cols], None if C is None else C[keep], keep,
                                    resampled, n_permutations, n_bootstrap, rng_perm, rng_boot)
        for i, j in enumerate(cols):
            results[j] = (n, est[i], None if null is None else null[:, i], None if boot is None else boot[:, i])
    for j, name in enumerate(ratings.columns):
        n, r, null, boot = results[j]
        lo, hi = percentile_ci(boot, ci_level) if boot is not None else (np.nan, np.nan)
        p = float(permutation_p(r, null)) if null is not None else np.nan
        rows.append({"attribute": str(name), "n": n, "r": float(r), "ci_low": float(lo), "ci_high": float(hi), "p": p})
    df = pd.DataFrame(rows)
    df["p_corr"] = correct_p(df["p"].to_numpy(), correction)
    if C is not None:
        df.insert(1, "covariates", ", ".join(str(c) for c in covariates.columns))
    return df


def _one_mask(x, Y, C, keep, resampled, n_permutations, n_bootstrap, rng_perm, rng_boot):
    n = len(x)
    Q = _basis(C, n)
    xr = x - Q @ (Q.T @ x)
    E = Y - Q @ (Q.T @ Y)
    est = (xr @ E) / np.sqrt((xr @ xr) * (E * E).sum(axis=0))
    null = None
    if n_permutations:
        parts = []
        xr_unit = xr / np.linalg.norm(xr)
        ee = (E * E).sum(axis=0)
        for start in range(0, n_permutations, _CHUNK):
            perms = permutations(rng_perm, min(_CHUNK, n_permutations - start), n)
            Ep = E[perms]                                    # (b, n, m): residuals permuted (Freedman-Lane)
            num = np.einsum("n,bnm->bm", xr_unit, Ep)
            proj = np.einsum("nq,bnm->bqm", Q, Ep)
            parts.append(num / np.sqrt(ee[None] - (proj**2).sum(axis=1)))
        null = np.concatenate(parts)
    boot = None
    if n_bootstrap:
        parts = []
        full = np.flatnonzero(keep)
        for start in range(0, n_bootstrap, _CHUNK):
            counts = resample_counts(rng_boot, min(_CHUNK, n_bootstrap - start), n)
            xs = x
            if resampled is not None:
                W_all = np.zeros((counts.shape[0], len(keep)))
                W_all[:, full] = counts
                xs = resampled(W_all)[:, full]
            parts.append(weighted_partial_r(xs, Y, C, counts))
        boot = np.concatenate(parts)
    return est, null, boot
