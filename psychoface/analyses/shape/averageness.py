"""Averageness: is a face's distance from the mean shape (its distinctiveness) related to how it is rated?

Distinctiveness is the Kendall shape distance rho of a face to the sample's Fréchet mean shape (geomorph's
Procrustes distance 2 sin(rho/2) is reported beside it); averageness is its opposite (Langlois & Roggman,
1990; Rhodes, 2006). Its correlation with each attribute is tested by permuting the ratings (Freedman-Lane
with covariates); the bootstrap over faces re-estimates the mean shape, and so every face's distance, in
every resample, so that the CI carries the uncertainty of the mean (see :mod:`.correlation`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from psychoface.analyses.inference import correction_label
from psychoface.analyses.shape.correlation import correlate_scores
from psychoface.analyses.shape.kendall import RESAMPLE_TOLERANCE, ShapeFit, batched_means, to_complex

ANALYSIS = "shape averageness"
P_METHOD = "permutation of the ratings over faces, p = (b + 1)/(N + 1)"
P_METHOD_FL = ("Freedman-Lane permutation of the ratings' residuals from the covariates, "
               "p = (b + 1)/(N + 1)")
CI_METHOD = "percentile bootstrap over faces, the mean shape re-estimated in every resample"


def distinctiveness(fit: ShapeFit) -> pd.DataFrame:
    """One row per face: stimulus, rho (Kendall distance to the Fréchet mean, radians) and
    procrustes_distance (2 sin(rho / 2))."""
    return pd.DataFrame({"stimulus": fit.ids, "rho": fit.rho, "procrustes_distance": fit.procrustes_distance})


def resampled_distances(fit: ShapeFit):
    """The function that re-estimates the mean shape for bootstrap counts (B, n) and returns (B, n)
    distances of every face to its resample's mean."""
    Z, start = to_complex(fit.preshapes), to_complex(fit.mean)
    logs = to_complex(fit.tangent)

    def distances(counts: np.ndarray) -> np.ndarray:
        W = counts / counts.sum(axis=1, keepdims=True)
        means, _, _ = batched_means(Z, W, start, tol=RESAMPLE_TOLERANCE, logs=logs)
        return np.arccos(np.clip(np.abs(np.conj(means) @ Z.T), 0.0, 1.0))

    return distances


def averageness(
    fit: ShapeFit,
    ratings: pd.DataFrame,
    *,
    covariates: pd.DataFrame | None = None,
    n_permutations: int = 10_000,
    n_bootstrap: int = 5_000,
    ci_level: float = 0.95,
    correction: str = "holm",
    seed: int = 0,
) -> pd.DataFrame:
    """Correlation of distinctiveness (rho to the mean shape) with every attribute of ``ratings`` (rows in
    the order of ``fit.ids``), optionally partialling out ``covariates``.

    Columns: attribute, (covariates,) n, r, ci_low, ci_high, p, p_corr; a positive r means that faces
    further from the average shape are rated higher.
    """
    df = correlate_scores(
        fit.rho, ratings, covariates=covariates, resampled=resampled_distances(fit),
        n_permutations=n_permutations, n_bootstrap=n_bootstrap, ci_level=ci_level, correction=correction,
        seed=seed)
    cov = [] if covariates is None else [str(c) for c in covariates.columns]
    df.attrs["psychoface"] = {
        "analysis": ANALYSIS, "seed": seed, "ci_level": ci_level, "ci_method": CI_METHOD,
        "p_method": P_METHOD_FL if cov else P_METHOD, "correction": correction,
        "correction_label": correction_label(correction), "family": "attributes",
        "n_permutations": n_permutations, "n_bootstrap": n_bootstrap, "covariates": cov,
        "score": "distinctiveness: Kendall shape distance rho to the Fréchet mean shape",
        "n_landmarks": int(fit.preshapes.shape[1]), "alternative": "two-sided",
    }
    return df
