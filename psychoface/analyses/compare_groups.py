"""Do two groups of raters' mean ratings of the same stimuli differ in how well they are predicted?

For ``psychoface predict --by rater_sex``: the mean ratings of each group of raters (y_a, y_b) are
predicted separately (pred_a, pred_b), and r_a = r(y_a, pred_a) is compared with r_b = r(y_b, pred_b) on
the stimuli both groups rated. The two correlations share no variable, so Williams' and Steiger's tests for
overlapping correlations (:mod:`psychoface.analyses.compare`) do not apply; the comparison is the same paired
percentile bootstrap over stimuli that :func:`~psychoface.analyses.compare.compare_correlations` reports as its
primary test -- each resample of stimuli recomputes both correlations -- with the same two-sided bootstrap p
(:data:`~psychoface.analyses.compare.BOOTSTRAP_P_METHOD`) and, across rows, Holm's correction. As there, the
predictions are held fixed (no refitting), which is approximate for out-of-fold predictions.

Random numbers: ``numpy.random.default_rng(seed)``; per resample ``rng.random(n)`` picks stimuli
``floor(u * n)`` (:func:`~psychoface.analyses.inference.resample_counts`).

Reference: Efron & Tibshirani (1993), *An Introduction to the Bootstrap*, ch. 13 and 15-16.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from psychoface.analyses.compare import BOOTSTRAP_P_METHOD
from psychoface.analyses.inference import correct_p, correction_label, percentile_ci, resample_counts
from psychoface.errors import PsychofaceError

_BLOCK_ELEMENTS = 4_000_000


def _bootstrap_difference(ya, pa, yb, pb, n_bootstrap, rng):
    """Resampled r(ya, pa) - r(yb, pb), the same stimuli for both; NaN for degenerate resamples."""
    n = ya.size
    z = [(v - v.mean()) / v.std() for v in (ya, pa, yb, pb)]
    terms = np.column_stack(z + [v * v for v in z] + [z[0] * z[1], z[2] * z[3]])
    out = np.empty(n_bootstrap)
    block = max(1, _BLOCK_ELEMENTS // n)
    for start in range(0, n_bootstrap, block):
        size = min(n_bootstrap, start + block) - start
        m = (resample_counts(rng, size, n) @ terms) / n
        mean, sq, cross = m[:, :4], m[:, 4:8], m[:, 8:]
        var = sq - mean**2
        ok = (var > 1e-12).all(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            r_a = (cross[:, 0] - mean[:, 0] * mean[:, 1]) / np.sqrt(var[:, 0] * var[:, 1])
            r_b = (cross[:, 1] - mean[:, 2] * mean[:, 3]) / np.sqrt(var[:, 2] * var[:, 3])
        out[start : start + size] = np.where(ok, r_a - r_b, np.nan)
    return out


def compare_groups(pairs: pd.DataFrame, *, n_bootstrap: int = 5000, ci_level: float = 0.95,
                   correction: str = "holm", seed: int = 0) -> pd.DataFrame:
    """One row per comparison of two groups' prediction accuracy.

    ``pairs``: one row per comparison with ``label_a``, ``label_b`` and arrays ``y_a``, ``pred_a``, ``y_b``,
    ``pred_b`` (one value per stimulus, same stimuli and order; NaN where a group did not rate a stimulus)
    plus any identifying columns (``layer``, ``attribute``), which are kept. Returns those columns and
    ``a``, ``b``, ``n`` (stimuli both groups rated), ``r_a``, ``r_b``, ``difference``, ``ci_low``, ``ci_high``
    (paired percentile bootstrap), ``p`` (bootstrap) and ``p_corr`` (``correction`` across the rows).
    """
    if not 0 < ci_level < 1:
        raise PsychofaceError(f"ci_level = {ci_level} must lie between 0 and 1, e.g. 0.95")
    rng_seed = int(seed)
    rows = []
    for i, rec in enumerate(pairs.to_dict("records")):
        ya, pa, yb, pb = (np.asarray(rec[k], dtype=float) for k in ("y_a", "pred_a", "y_b", "pred_b"))
        keep = ~(np.isnan(ya) | np.isnan(pa) | np.isnan(yb) | np.isnan(pb))
        ya, pa, yb, pb = ya[keep], pa[keep], yb[keep], pb[keep]
        ident = {k: v for k, v in rec.items() if k not in ("y_a", "pred_a", "y_b", "pred_b", "label_a", "label_b")}
        row = {**ident, "a": rec["label_a"], "b": rec["label_b"], "n": int(keep.sum()), "r_a": np.nan,
               "r_b": np.nan, "difference": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan}
        if keep.sum() >= 4 and min(np.ptp(v) for v in (ya, pa, yb, pb)) > 0:
            row["r_a"], row["r_b"] = float(np.corrcoef(ya, pa)[0, 1]), float(np.corrcoef(yb, pb)[0, 1])
            row["difference"] = row["r_a"] - row["r_b"]
            boot = _bootstrap_difference(ya, pa, yb, pb, n_bootstrap, np.random.default_rng([rng_seed, i]))
            row["ci_low"], row["ci_high"] = (float(v) for v in percentile_ci(boot, ci_level))
            valid = boot[np.isfinite(boot)]
            row["p"] = min(1.0, 2 * (min((valid <= 0).sum(), (valid >= 0).sum()) + 1) / (valid.size + 1))
        rows.append(row)
    df = pd.DataFrame(rows)
    df["p_corr"] = correct_p(df["p"].to_numpy(), correction)
    df.attrs["psychoface"] = {
        "analysis": "compare_groups", "seed": rng_seed, "n_bootstrap": int(n_bootstrap), "ci_level": ci_level,
        "ci_method": "paired percentile bootstrap over stimuli", "p_method": BOOTSTRAP_P_METHOD,
        "correction": correction_label(correction), "family": f"{len(df)} comparisons of rater groups",
        "rng": "per row numpy default_rng([seed, row index])",
    }
    return df
