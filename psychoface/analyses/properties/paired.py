"""Paired tests of output changes (an edited face against the original, or a face in two conditions).

For each column of paired differences ``d`` (faces with a missing difference left out):

- the mean and median change, the SD of the changes and the standardised mean change d_z = mean / SD
  (Cohen, 1988; Lakens, 2013), with the t-based CI of the mean change;
- the Wilcoxon signed-rank test (scipy's ``wilcoxon``, two-sided, zero differences dropped as in Wilcoxon's
  original procedure; exact p for small samples without ties, else the normal approximation);
- the paired permutation test: the signs of the differences are flipped at random (the null that the edit
  changes nothing makes each difference's sign exchangeable), statistic the mean, two-sided,
  p = (b + 1) / (N + 1). This is the reported ``p``, corrected across the table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from psychoface.analyses.inference import correct_p, correction_label, permutation_p
from psychoface.analyses.properties.association import share_significant
from psychoface.errors import PsychofaceError


def sign_flip_null(d, signs):
    """Null means of ``d`` under random sign flips ``signs`` (N, >= len(d)) of +-1."""
    return signs[:, : len(d)] @ d / len(d)


def paired_rows(diffs: pd.DataFrame, *, n_permutations: int, ci_level: float, seed: int) -> pd.DataFrame:
    """One row of paired statistics per column of ``diffs`` (uncorrected; see :func:`paired_tests`)."""
    rng = np.random.default_rng(seed)
    n_max = len(diffs)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(n_permutations, n_max)) if n_permutations else None
    rows = []
    for col in diffs.columns:
        d = diffs[col].dropna().to_numpy(float)
        n = len(d)
        if n < 3:
            raise PsychofaceError(f"{col}: {n} paired faces; a paired test needs at least 3")
        mean, sd = d.mean(), d.std(ddof=1)
        half = stats.t.ppf(0.5 + ci_level / 2, n - 1) * sd / np.sqrt(n)
        row = {"comparison": col, "n": n, "mean_change": mean, "median_change": float(np.median(d)), "sd_change": sd,
               "d_z": mean / sd if sd > 0 else np.nan, "ci_low": mean - half, "ci_high": mean + half}
        if np.any(d != 0):
            w = stats.wilcoxon(d)
            row["W"], row["p_wilcoxon"] = float(w.statistic), float(w.pvalue)
        else:
            row["W"], row["p_wilcoxon"] = np.nan, 1.0
        row["p"] = float(permutation_p(mean, sign_flip_null(d, signs))) if signs is not None else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def paired_tests(
    diffs: pd.DataFrame,
    *,
    n_permutations: int = 10_000,
    ci_level: float = 0.95,
    correction: str = "holm",
    family: str = "comparisons",
    seed: int = 0,
    analysis: str = "paired_changes",
) -> pd.DataFrame:
    """Paired tests of each column of ``diffs`` (index: faces or pairs; values: changes)."""
    correction_name = correction_label(correction)
    df = paired_rows(diffs, n_permutations=n_permutations, ci_level=ci_level, seed=seed)
    df["p_corr"] = correct_p(df["p"].to_numpy(), correction)
    df.attrs["psychoface"] = {
        "analysis": analysis,
        "seed": seed,
        "ci_level": ci_level,
        "ci_method": "t interval of the mean change",
        "p_method": "paired sign-flip permutation test of the mean change (two-sided); Wilcoxon signed-rank "
        "test beside it",
        "correction": correction_name,
        "family": family,
        "n_permutations": n_permutations,
        "share_significant": share_significant(df["p_corr"]),
    }
    return df
