"""Unit-wise correlations of a layer's features with each attribute, with family-wise control.

Method. For every attribute, Pearson's r of every unit (feature) with the ratings; units that are
constant over the rated stimuli (scikit-learn's variance test) are left out and counted. The family is
all tested units of the layer, per attribute. Corrections:

- ``"maxt"`` (default): the max-statistic permutation method (Westfall & Young, 1993; Nichols & Holmes,
  2002). The stimuli are permuted N times (jointly for all units and attributes); for each permutation the
  maximum |r| over all units is kept, and the family-wise p of unit j is
  ``(#{permutations: max_k |r_k| >= |r_j|} + 1) / (N + 1)``. This controls the family-wise error rate
  under any dependence between units. Each permutation is one matrix product of unit-norm centred
  features with unit-norm centred permuted ratings, computed in chunks of units (float32 for the null;
  observed r in float64).
- ``"holm"``, ``"bonferroni"``, ``"fdr_bh"`` (Benjamini & Hochberg, 1995), ``"none"``: applied to the
  per-unit parametric two-sided p-values of r (t distribution with n - 2 df, as
  :func:`scipy.stats.pearsonr`); no permutations are run. (Per-unit permutation p-values with N of a few
  thousand are too coarse for a family of 100,000 units.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from psychoface.analyses.inference import CORRECTIONS, correct_p, correction_label
from psychoface.analyses.predict import (
    check_features,
    check_finite,
    check_ratings,
    is_constant,
    missingness_groups,
)
from psychoface.errors import PsychofaceError

_NULL_BATCH_BYTES = 64 * 2**20  # float32 permuted ratings (and r of a chunk of units) held at once
_TOLERANCE = 1e-6  # the float32 null counts as "as extreme" within this margin of the observed |r|


def correlate_units(
    X,
    Y: pd.DataFrame,
    *,
    attributes=None,
    n_permutations: int | None = None,
    correction: str = "maxt",
    alpha: float = 0.05,
    top: int = 5,
    seed: int = 0,
    chunk_size: int = 2048,
):
    """Correlate every unit of a layer with every attribute; count the significant units.

    Parameters
    ----------
    X : array (n_stimuli, n_units)
        Features in the order of ``Y``'s rows (memory maps are read in chunks of ``chunk_size`` units).
    Y : DataFrame
        Ratings, index = stimulus ids, one column per attribute; NaN = not rated (left out for that
        attribute only).
    attributes : list of str, optional
        Columns of ``Y`` to use (default: all).
    n_permutations : int, optional
        Permutations for ``"maxt"``; default 10,000 for layers of up to 10,000 units, else 1,000.
    correction : str
        ``"maxt"``, ``"holm"``, ``"bonferroni"``, ``"fdr_bh"`` or ``"none"``.
    alpha : float
        Significance level for counting units.
    top : int
        Number of units with the largest |r| listed per attribute in the summary.
    seed : int
        Seed (a whole number >= 0) of the permutations.
    chunk_size : int
        Units processed at once.

    Returns
    -------
    (summary, units): ``summary`` has one row per attribute: ``attribute, n, n_units, n_constant,
    n_significant, proportion, max_abs_r, top_units, r_crit`` (``r_crit``: with max-T, units with
    |r| above it are significant); ``units`` has one row per significant unit: ``attribute, unit, r, p,
    p_corr`` (``p`` parametric, ``p_corr`` corrected), by attribute and decreasing |r|. Parameters are in
    ``summary.attrs["psychoface"]`` (and ``units.attrs``).
    """
    ids, names, ratings = check_ratings(Y, attributes)
    X = check_features(X, len(ids))
    if correction != "maxt" and correction not in CORRECTIONS:
        raise PsychofaceError(
            f"unknown correction {correction!r}: use maxt, {', '.join(CORRECTIONS)}"
        )
    if n_permutations is None:
        n_permutations = 10_000 if X.shape[1] <= 10_000 else 1_000
    if correction != "maxt":
        n_permutations = 0
    checks = (("n_permutations", n_permutations, 0), ("top", top, 0), ("chunk_size", chunk_size, 1),
              ("seed", seed, 0))
    for name, value, low in checks:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise PsychofaceError(f"{name} = {value!r}: must be an integer >= {low}")
    if correction == "maxt" and n_permutations < 1:
        raise PsychofaceError("max-T needs permutations: set n_permutations >= 1 (e.g. 1000)")
    if not 0 < alpha < 1:
        raise PsychofaceError(f"alpha = {alpha!r}: must lie between 0 and 1, e.g. 0.05")
    for j, name in enumerate(names):
        rated = ratings[~np.isnan(ratings[:, j]), j]
        if len(rated) < 3:
            raise PsychofaceError(
                f"attribute {name!r}: {len(rated)} rated stimuli; a correlation needs at least 3"
            )
        if np.ptp(rated) == 0:
            raise PsychofaceError(
                f"attribute {name!r}: every rating is {rated[0]:g}; a constant attribute has no "
                "correlation, leave it out"
            )

    rng = np.random.default_rng(seed)
    summaries, unit_rows = [], []
    for group in missingness_groups(ratings):
        perms = rng.permuted(
            np.tile(np.arange(len(group["rows"]), dtype=np.int32), (n_permutations, 1)), axis=1
        )
        r, null_max = _correlations(X, ids, group["rows"], ratings[np.ix_(group["rows"], group["cols"])],
                                    perms, chunk_size)
        for j, col in enumerate(group["cols"]):
            s, u = _attribute_results(names[col], r[:, j], null_max[:, j], len(group["rows"]),
                                      correction, alpha, top)
            summaries.append((col, s))
            unit_rows.append((col, u))

    summary = pd.DataFrame([s for _, s in sorted(summaries, key=lambda t: t[0])])
    units = pd.concat([u for _, u in sorted(unit_rows, key=lambda t: t[0])], ignore_index=True)
    info = {
        "analysis": "correlate",
        "seed": seed,
        "statistic": "Pearson r of each unit with each attribute",
        "n_permutations": n_permutations,
        "alpha": alpha,
        "top": top,
        "ci_level": None,
        "ci_method": "none",
        "p_method": (
            "max-statistic permutation test (Westfall & Young, 1993): stimuli permuted jointly for all "
            "units; p = (b + 1) / (N + 1) with b the permutations whose maximum |r| over units reaches |r|"
            if correction == "maxt"
            else "two-sided t test of r (df = n - 2)"
        ),
        "correction": "max-T (family-wise)" if correction == "maxt" else correction_label(correction),
        "family": "all non-constant units of the layer, per attribute",
    }
    summary.attrs["psychoface"] = info
    units.attrs["psychoface"] = dict(info)
    return summary, units


def _unit_norm(A):
    """Centre columns and scale them to unit norm; constant columns become 0. Returns (A, constant)."""
    mean = A.mean(axis=0)
    A = A - mean
    ss = np.einsum("ij,ij->j", A, A)
    constant = is_constant(ss / len(A), mean, len(A))
    A *= np.where(constant, 0.0, 1.0 / np.sqrt(np.where(constant, 1.0, ss)))
    return A, constant


def _correlations(X, ids, rows, y, perms, chunk_size):
    """Observed r of every unit (float64, NaN for constant units) and the maximum |r| per permutation."""
    n, A = y.shape
    yn, _ = _unit_norm(y)
    yn32 = yn.astype(np.float32)
    per_batch = max(1, _NULL_BATCH_BYTES // (4 * A * max(n, chunk_size)))
    r = np.empty((X.shape[1], A))
    null_max = np.zeros((len(perms), A), dtype=np.float32)
    full = n == X.shape[0]
    for c0 in range(0, X.shape[1], chunk_size):
        chunk = np.asarray(X[:, c0 : c0 + chunk_size], dtype=np.float64)
        check_finite(chunk, ids, c0)
        xn, constant = _unit_norm(chunk if full else chunk[rows])
        r_chunk = xn.T @ yn
        r_chunk[constant] = np.nan
        r[c0 : c0 + chunk.shape[1]] = r_chunk
        xt = np.ascontiguousarray(xn[:, ~constant].T, dtype=np.float32)
        if not len(xt):
            continue
        for b0 in range(0, len(perms), per_batch):
            batch = perms[b0 : b0 + per_batch]
            null = xt @ yn32[batch.T].reshape(n, -1)  # (units, permutations * attributes)
            peak = np.maximum(null.max(axis=0), -null.min(axis=0)).reshape(len(batch), A)
            np.maximum(null_max[b0 : b0 + len(batch)], peak, out=null_max[b0 : b0 + len(batch)])
    return r, null_max


def _attribute_results(name, r, null_max, n, correction, alpha, top):
    tested = ~np.isnan(r)
    abs_r = np.abs(r)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = r * np.sqrt((n - 2) / (1.0 - r * r))
    p = 2.0 * stats.t.sf(np.abs(t), n - 2)
    if correction == "maxt":
        ordered = np.sort(null_max.astype(np.float64))
        b = len(ordered) - np.searchsorted(ordered, abs_r - _TOLERANCE, side="left")
        p_corr = np.where(tested, (b + 1.0) / (len(ordered) + 1.0), np.nan)
        # significant <=> at most k permutation maxima reach |r| <=> |r| exceeds the (k+1)-th largest
        k = int(np.floor(alpha * (len(ordered) + 1) - 1 + 1e-9))
        if k < 0:
            r_crit = np.inf
        else:
            r_crit = ordered[len(ordered) - 1 - k] if k < len(ordered) else 0.0
    else:
        p_corr = correct_p(np.where(tested, p, np.nan), correction)
        r_crit = np.nan
    significant = np.flatnonzero(tested & (p_corr <= alpha))
    significant = significant[np.argsort(-abs_r[significant], kind="stable")]
    best = np.flatnonzero(tested)
    best = best[np.argsort(-abs_r[best], kind="stable")][:top]
    n_units = int(tested.sum())
    summary = {
        "attribute": name,
        "n": n,
        "n_units": n_units,
        "n_constant": int((~tested).sum()),
        "n_significant": len(significant),
        "proportion": len(significant) / n_units if n_units else np.nan,
        "max_abs_r": abs_r[tested].max() if n_units else np.nan,
        "top_units": ", ".join(str(u) for u in best),
        "r_crit": r_crit,
    }
    units = pd.DataFrame(
        {
            "attribute": name,
            "unit": significant,
            "r": r[significant],
            "p": p[significant],
            "p_corr": p_corr[significant],
        }
    )
    return summary, units
