"""Is one predictor of the ratings better than another on the same stimuli? Tests for two dependent,
overlapping correlations r(y, a) and r(y, b) that share the ratings y (two layers, two models).

- Williams' (1959) t, df = n - 3, in the form that Steiger (1980, eq. 7) recommends and that R's
  ``psych::r.test`` and ``cocor`` (``williams1959``; Diedenhofen & Musch, 2015) compute.
- Steiger's (1980) Z: Dunn & Clark's (1969) z on Fisher-transformed correlations with the covariance of
  the two correlations evaluated at their pooled mean r̄ (Steiger, 1980, p. 247; ``cocor``'s
  ``steiger1980``).
- A paired percentile bootstrap over stimuli (the same resample for both correlations).

The closed-form tests assume independent stimuli with (multivariate) normal values; the bootstrap does
not assume normality. Out-of-fold predictions (``predict_ratings``) are not strictly independent across
stimuli: each comes from a model trained on the other stimuli, so the errors of stimuli in different folds
share training data. With such predictions Williams' and Steiger's tests are approximate, and
``compare_correlations`` reports the paired bootstrap (CI of the difference and ``p_bootstrap``) as the
primary test; ``attrs["psychoface"]["assumptions"]`` says so for the report. (The bootstrap also resamples
stimuli as exchangeable units and holds the predictions fixed, without refitting: it too is approximate
for cross-validated predictions, but needs no normality.)

Random numbers (``compare_correlations``): ``numpy.random.default_rng(seed)``; per bootstrap resample
``u = rng.random(n)`` is drawn and stimuli ``floor(u * n)`` are taken, so a plain loop making the same
calls reproduces every resample.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from psychoface.analyses.inference import percentile_ci, resample_counts
from psychoface.errors import PsychofaceError

_BLOCK_ELEMENTS = 4_000_000  # bootstrap weights held at once

WILLIAMS_METHOD = "Williams' (1959) t for two dependent overlapping correlations, df = n - 3, two-sided"
STEIGER_METHOD = "Steiger's (1980) Z for two dependent overlapping correlations (pooled r), two-sided"
ASSUMPTIONS = (
    "Williams' t and Steiger's Z assume independent stimuli with normally distributed values; out-of-fold "
    "predictions are not strictly independent (each comes from a model trained on the other stimuli), so "
    "with cross-validated predictions both tests are approximate; the paired bootstrap over stimuli (CI "
    "and p_bootstrap), which needs no normality, is the primary test (it holds the predictions fixed)"
)
APPROXIMATE = (
    " (approximate for out-of-fold predictions, which are not independent; the paired bootstrap is primary)"
)
BOOTSTRAP_P_METHOD = (
    "two-sided paired bootstrap: p is twice the smaller of the proportions of bootstrap differences at or "
    "below zero and at or above zero, each counted as (b + 1)/(N + 1), at most 1 (the smallest alpha at "
    "which the percentile interval excludes 0)"
)


def _check_correlations(r_jk, r_jh, r_kh, n):
    try:
        r_jk, r_jh, r_kh, n = np.broadcast_arrays(
            *(np.asarray(v, dtype=float) for v in (r_jk, r_jh, r_kh, n))
        )
    except (TypeError, ValueError) as exc:
        raise PsychofaceError(
            f"correlations and n must be numbers or arrays of one shape ({exc})"
        ) from None
    for name, r in (("r_jk", r_jk), ("r_jh", r_jh), ("r_kh", r_kh)):
        bad = ~(np.abs(r) <= 1)
        if bad.any():
            raise PsychofaceError(
                f"{name} = {r[bad].flat[0]:g} is not a correlation; give a value between -1 and 1"
            )
    if (np.abs(r_kh) >= 1).any():
        raise PsychofaceError(
            "r_kh = +-1: the two predictors are perfectly correlated, so their correlations with the "
            "ratings cannot differ; compare different predictors"
        )
    bad_n = ~((n >= 4) & (n == np.round(n)))
    if bad_n.any():
        raise PsychofaceError(
            f"n = {n[bad_n].flat[0]:g} must be a whole number >= 4 (the tests have n - 3 df)"
        )
    det = 1 - r_jk**2 - r_jh**2 - r_kh**2 + 2 * r_jk * r_jh * r_kh
    if (det < -1e-12).any():
        i = np.flatnonzero(det < -1e-12)[0]
        raise PsychofaceError(
            f"r_jk = {r_jk.flat[i]:g}, r_jh = {r_jh.flat[i]:g}, r_kh = {r_kh.flat[i]:g} cannot come from "
            "one data set (their correlation matrix is not positive semidefinite); check the values"
        )
    return r_jk, r_jh, r_kh, n, np.maximum(det, 0.0)


def _frame(columns: dict, attrs: dict) -> pd.DataFrame:
    df = pd.DataFrame({k: np.ravel(v) for k, v in columns.items()})
    df["n"] = df["n"].astype(int)
    if "df" in df:
        df["df"] = df["df"].astype(int)
    df.attrs["psychoface"] = attrs
    return df


def _williams(r_jk, r_jh, r_kh, n, det):
    rbar = (r_jk + r_jh) / 2
    t = (r_jk - r_jh) * np.sqrt(
        (n - 1) * (1 + r_kh) / (2 * (n - 1) / (n - 3) * det + rbar**2 * (1 - r_kh) ** 3)
    )
    return t, n - 3, 2 * stats.t.sf(np.abs(t), n - 3)


def _steiger(r_jk, r_jh, r_kh, n):
    rbar = (r_jk + r_jh) / 2
    c = (r_kh * (1 - 2 * rbar**2) - 0.5 * rbar**2 * (1 - 2 * rbar**2 - r_kh**2)) / (1 - rbar**2) ** 2
    z = (np.arctanh(r_jk) - np.arctanh(r_jh)) * np.sqrt(n - 3) / np.sqrt(2 - 2 * c)
    return z, 2 * stats.norm.sf(np.abs(z))


def williams_test(r_jk, r_jh, r_kh, n) -> pd.DataFrame:
    """Williams' (1959) t test of H0: rho_jk = rho_jh for two correlations sharing variable j.

    t = (r_jk - r_jh) * sqrt((n - 1)(1 + r_kh) / (2 (n - 1)/(n - 3) |R| + r̄² (1 - r_kh)³)), df = n - 3,
    with |R| = 1 - r_jk² - r_jh² - r_kh² + 2 r_jk r_jh r_kh and r̄ = (r_jk + r_jh)/2 (Steiger, 1980,
    eq. 7). For example j = ratings, k = layer A's predictions, h = layer B's predictions.

    Arguments may be arrays of one shape (one row per element). Returns a DataFrame with ``r1`` (r_jk),
    ``r2`` (r_jh), ``r12`` (r_kh), ``n``, ``t``, ``df``, ``p`` (two-sided).

    References: Williams, E. J. (1959). J. Royal Statistical Society B, 21, 396-399; Steiger, J. H.
    (1980). Psychological Bulletin, 87, 245-251.
    """
    r_jk, r_jh, r_kh, n, det = _check_correlations(r_jk, r_jh, r_kh, n)
    t, df, p = _williams(r_jk, r_jh, r_kh, n, det)
    return _frame(
        {"r1": r_jk, "r2": r_jh, "r12": r_kh, "n": n, "t": t, "df": df, "p": p},
        {"analysis": "williams_test", "p_method": WILLIAMS_METHOD, "alternative": "two-sided",
         "seed": None, "correction": "none", "family": None},
    )


def steiger_z(r_jk, r_jh, r_kh, n) -> pd.DataFrame:
    """Steiger's (1980) Z test of H0: rho_jk = rho_jh for two correlations sharing variable j.

    Z = (z_jk - z_jh) sqrt(n - 3) / sqrt(2 - 2 c), with Fisher's z = atanh(r) and c the correlation of
    the two z's evaluated at the pooled r̄ = (r_jk + r_jh)/2:
    c = [r_kh (1 - 2 r̄²) - r̄² (1 - 2 r̄² - r_kh²)/2] / (1 - r̄²)² (Steiger, 1980, p. 247; Dunn & Clark,
    1969). p from the standard normal, two-sided.

    Arguments may be arrays of one shape (one row per element). Returns a DataFrame with ``r1`` (r_jk),
    ``r2`` (r_jh), ``r12`` (r_kh), ``n``, ``z``, ``p``.
    """
    r_jk, r_jh, r_kh, n, _ = _check_correlations(r_jk, r_jh, r_kh, n)
    if ((np.abs(r_jk) >= 1) | (np.abs(r_jh) >= 1)).any():
        raise PsychofaceError(
            "r_jk or r_jh is +-1: Fisher's z is infinite and Steiger's Z undefined; use williams_test"
        )
    z, p = _steiger(r_jk, r_jh, r_kh, n)
    return _frame(
        {"r1": r_jk, "r2": r_jh, "r12": r_kh, "n": n, "z": z, "p": p},
        {"analysis": "steiger_z", "p_method": STEIGER_METHOD, "alternative": "two-sided",
         "seed": None, "correction": "none", "family": None},
    )


def _vector(name, values):
    try:
        arr = np.asarray(values.to_numpy() if isinstance(values, pd.Series) else values, dtype=float)
    except (TypeError, ValueError):
        raise PsychofaceError(
            f"{name} must be numbers, one per stimulus; it holds non-numeric values"
        ) from None
    if arr.ndim != 1:
        raise PsychofaceError(f"{name} must be one value per stimulus (1-D), not shape {arr.shape}")
    if np.isinf(arr).any():
        raise PsychofaceError(
            f"{name} has an infinite value at position {int(np.flatnonzero(np.isinf(arr))[0])}; "
            "fix the input"
        )
    return arr


def _paired_bootstrap(y, a, b, n_bootstrap, rng):
    """Resampled r(y, a) - r(y, b), the same resample of stimuli for both, NaN for degenerate ones."""
    n = y.size
    z = [(v - v.mean()) / v.std() for v in (y, a, b)]
    terms = np.column_stack([z[0], z[1], z[2], z[0] ** 2, z[1] ** 2, z[2] ** 2, z[0] * z[1], z[0] * z[2]])
    out = np.empty(n_bootstrap)
    block = max(1, _BLOCK_ELEMENTS // n)
    for start in range(0, n_bootstrap, block):
        size = min(n_bootstrap, start + block) - start
        weights = resample_counts(rng, size, n)
        my, ma, mb, myy, maa, mbb, mya, myb = ((weights @ terms) / n).T
        vy, va, vb = myy - my**2, maa - ma**2, mbb - mb**2
        ok = (vy > 1e-12) & (va > 1e-12) & (vb > 1e-12)
        with np.errstate(invalid="ignore", divide="ignore"):
            diff = (mya - my * ma) / np.sqrt(vy * va) - (myb - my * mb) / np.sqrt(vy * vb)
        out[start : start + size] = np.where(ok, diff, np.nan)
    return out


def compare_correlations(
    y,
    pred_a,
    pred_b,
    *,
    n_bootstrap: int = 5000,
    ci_level: float = 0.95,
    seed: int = 0,
    labels=("A", "B"),
) -> pd.DataFrame:
    """Compare r(y, pred_a) with r(y, pred_b) on the same stimuli.

    Stimuli where any of the three values is NaN (not rated, not predicted) are left out (counted in
    ``attrs["psychoface"]["n_excluded"]``). Pearson correlations; Williams' t (the ``p`` column), Steiger's
    Z (``p_steiger``) and a paired percentile bootstrap over stimuli for the CI of the difference
    r_a - r_b and ``p_bootstrap`` (method in ``BOOTSTRAP_P_METHOD``). The bootstrap is the primary test:
    Williams' and Steiger's tests assume independent stimuli, which out-of-fold predictions are not
    (module docstring; ``attrs["psychoface"]["assumptions"]``).

    Returns a one-row DataFrame: ``a``, ``b`` (labels), ``n``, ``r_a``, ``r_b``, ``r_ab`` (between the
    predictions), ``difference``, ``ci_low``, ``ci_high``, ``t``, ``df``, ``p``, ``z``, ``p_steiger``,
    ``p_bootstrap``.

    References: Williams (1959); Steiger (1980); Efron & Tibshirani (1993), ch. 13 and 15-16.
    """
    if not 0 < ci_level < 1:
        raise PsychofaceError(f"ci_level = {ci_level} must lie between 0 and 1, e.g. 0.95")
    for name, value, minimum in (("n_bootstrap", n_bootstrap, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise PsychofaceError(f"{name} = {value!r} must be a whole number >= {minimum}")
    if isinstance(labels, str) or len(labels) != 2:
        raise PsychofaceError(f"labels = {labels!r} must be two names, e.g. ('conv5', 'fc7')")
    label_a, label_b = (str(v) for v in labels)
    y, a, b = _vector("y", y), _vector(label_a, pred_a), _vector(label_b, pred_b)
    if not y.size == a.size == b.size:
        raise PsychofaceError(
            f"y, {label_a} and {label_b} have {y.size}, {a.size} and {b.size} values; give one per stimulus "
            "in the same order"
        )
    keep = ~(np.isnan(y) | np.isnan(a) | np.isnan(b))
    y, a, b = y[keep], a[keep], b[keep]
    n = int(y.size)
    if n < 4:
        raise PsychofaceError(
            f"only {n} stimuli have a rating and both predictions; comparing correlations needs >= 4"
        )
    for name, v in (("y", y), (label_a, a), (label_b, b)):
        if np.ptp(v) == 0:
            raise PsychofaceError(f"{name} is constant ({v[0]:g}); its correlation is undefined")
    r = np.corrcoef(np.vstack([y, a, b]))
    r_a, r_b, r_ab = float(r[0, 1]), float(r[0, 2]), float(r[1, 2])
    r_jk, r_jh, r_kh, n_arr, det = _check_correlations(r_a, r_b, r_ab, n)
    t, df, p = _williams(r_jk, r_jh, r_kh, n_arr, det)
    z, p_steiger = _steiger(r_jk, r_jh, r_kh, n_arr)
    boot = _paired_bootstrap(y, a, b, int(n_bootstrap), np.random.default_rng(int(seed)))
    low, high = percentile_ci(boot, ci_level)
    valid = boot[np.isfinite(boot)]
    tail = min((valid <= 0).sum(), (valid >= 0).sum())
    p_boot = min(1.0, 2 * (tail + 1) / (valid.size + 1))
    df_out = _frame(
        {"a": label_a, "b": label_b, "n": n, "r_a": r_a, "r_b": r_b, "r_ab": r_ab,
         "difference": r_a - r_b, "ci_low": low, "ci_high": high, "t": t, "df": df, "p": p,
         "z": z, "p_steiger": p_steiger, "p_bootstrap": p_boot},
        {"analysis": "compare_correlations", "seed": int(seed), "n_bootstrap": int(n_bootstrap),
         "n_bootstrap_valid": int(valid.size), "ci_level": ci_level,
         "ci_method": "paired percentile bootstrap over stimuli",
         "p_method": WILLIAMS_METHOD + APPROXIMATE,
         "p_steiger_method": STEIGER_METHOD + APPROXIMATE, "p_bootstrap_method": BOOTSTRAP_P_METHOD,
         "primary_test": "paired bootstrap (ci_low, ci_high, p_bootstrap)", "assumptions": ASSUMPTIONS,
         "alternative": "two-sided", "correction": "none", "family": None,
         "labels": [label_a, label_b], "n_excluded": int((~keep).sum())},
    )
    return df_out
