"""Group mean shapes (e.g. face sex) and a per-face dimorphism score.

- Group means: the Fréchet mean shape of each group's faces (the Karcher iteration of
  :func:`.kendall.batched_means`, from the grand mean, to a tangent-mean norm below 1e-10 rad).
- Difference: the Kendall distance rho between two groups' means (and 2 sin(rho/2), geomorph's Procrustes
  distance); p by permuting the group labels over faces and re-estimating both means each time,
  p = (b + 1)/(N + 1), Holm across the pairs of groups.
- Dimorphism score of a face: its position along the geodesic from group A's mean to group B's mean, the
  projection of its log map at A's mean onto the log map of B's mean, divided by rho_AB^2: 0 at A's mean,
  1 at B's mean (a sex-typicality score of shape, measured along the geodesic).
  Its correlation with ratings (e.g. masculinity) is tested as in :mod:`.correlation`, the bootstrap
  re-estimating both group means in every resample.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from psychoface.analyses.inference import correct_p, correction_label, permutation_p
from psychoface.analyses.shape.correlation import check_options, correlate_scores, permutations
from psychoface.analyses.shape.kendall import (
    log_rows,
    MEAN_TOLERANCE,
    RESAMPLE_TOLERANCE,
    ShapeFit,
    batched_means,
    to_complex,
    to_real,
)
from psychoface.errors import PsychofaceError

DIFFERENCE = "shape group difference"
DIMORPHISM = "shape dimorphism"
P_METHOD = "permutation of the group labels over faces, both means re-estimated, p = (b + 1)/(N + 1)"
MIN_PER_GROUP = 2
_CHUNK = 500


def _labels(fit: ShapeFit, labels: Sequence) -> tuple[np.ndarray, list[str]]:
    lab = np.asarray([str(v) for v in labels], dtype=object)
    if len(lab) != len(fit.ids):
        raise PsychofaceError(f"{len(lab)} group labels for {len(fit.ids)} faces; give one label per face")
    levels = sorted(set(lab))
    if len(levels) < 2:
        raise PsychofaceError(f"all faces are in group {levels[0]!r}; group mean shapes need at least two groups")
    small = [g for g in levels if (lab == g).sum() < MIN_PER_GROUP]
    if small:
        raise PsychofaceError(f"group {small[0]!r} has {(lab == small[0]).sum()} face(s); each group needs at "
                              f"least {MIN_PER_GROUP}: merge or drop it")
    return lab, levels


def _means(Z, logs, start, indicator: np.ndarray, tol: float) -> np.ndarray:
    W = indicator / indicator.sum(axis=1, keepdims=True)
    means, _, _ = batched_means(Z, W, start, tol=tol, logs=logs)
    return means



def group_means(fit: ShapeFit, labels: Sequence) -> dict[str, np.ndarray]:
    """The Fréchet mean shape (a (k, 2) pre-shape aligned to the grand mean) of each group."""
    lab, levels = _labels(fit, labels)
    Z, start, logs = to_complex(fit.preshapes), to_complex(fit.mean), to_complex(fit.tangent)
    ind = np.stack([(lab == g).astype(float) for g in levels])
    means = _means(Z, logs, start, ind, MEAN_TOLERANCE)
    return {g: to_real(m) for g, m in zip(levels, means)}


def group_differences(
    fit: ShapeFit,
    labels: Sequence,
    *,
    n_permutations: int = 10_000,
    correction: str = "holm",
    seed: int = 0,
) -> pd.DataFrame:
    """Distance between the mean shapes of every pair of groups, with permuted labels (module docstring).

    Columns: group_a, group_b, n_a, n_b, distance (Kendall rho, radians), procrustes_distance, p, and p_corr
    (Holm across the pairs) when there are more than two groups.
    """
    check_options(n_permutations, 0, 0.95, correction)
    lab, levels = _labels(fit, labels)
    Z, start, logs = to_complex(fit.preshapes), to_complex(fit.mean), to_complex(fit.tangent)
    G, n = len(levels), len(lab)
    ind = np.stack([(lab == g).astype(float) for g in levels])
    means = _means(Z, logs, start, ind, MEAN_TOLERANCE)
    pairs = list(combinations(range(G), 2))

    def distances(M: np.ndarray) -> np.ndarray:  # M: (B, G, k) -> (B, pairs)
        return np.stack([np.arccos(np.minimum(np.abs((np.conj(M[:, a]) * M[:, b]).sum(axis=1)), 1.0))
                         for a, b in pairs], axis=1)

    observed = _exact_rho(means, pairs)
    null = None
    if n_permutations:
        rng = np.random.default_rng(seed)
        parts = []
        codes = np.searchsorted(levels, lab)
        for begin in range(0, n_permutations, _CHUNK):
            perms = permutations(rng, min(_CHUNK, n_permutations - begin), n)
            permuted = codes[perms]                                      # (b, n) labels
            ind_p = np.concatenate([(permuted == g).astype(float) for g in range(G)])  # (G*b, n)
            M = _means(Z, logs, start, ind_p, RESAMPLE_TOLERANCE).reshape(G, len(perms), -1).transpose(1, 0, 2)
            parts.append(distances(M))
        null = np.concatenate(parts)
    rows = []
    for i, (a, b) in enumerate(pairs):
        p = float(permutation_p(observed[i], null[:, i], alternative="greater")) if null is not None else np.nan
        rows.append({"group_a": levels[a], "group_b": levels[b], "n_a": int(ind[a].sum()), "n_b": int(ind[b].sum()),
                     "distance": observed[i], "procrustes_distance": 2 * np.sin(observed[i] / 2), "p": p})
    df = pd.DataFrame(rows)
    if len(pairs) == 1:  # one test: nothing to correct
        correction = "none"
    else:
        df["p_corr"] = correct_p(df["p"].to_numpy(), correction)
    df.attrs["psychoface"] = {
        "analysis": DIFFERENCE, "seed": seed, "ci_level": None, "ci_method": None, "p_method": P_METHOD,
        "correction": correction, "correction_label": correction_label(correction), "family": "pairs of groups",
        "n_permutations": n_permutations, "groups": levels,
    }
    return df


def _exact_rho(means: np.ndarray, pairs) -> list[float]:
    out = []
    for a, b in pairs:
        c = abs(np.vdot(means[a], means[b]))
        chord = np.linalg.norm(means[a] - means[b] * np.conj(np.vdot(means[a], means[b])) / max(c, 1e-300))
        out.append(float(2 * np.arcsin(min(chord / 2, 1.0))))
    return out


def _scores(Z: np.ndarray, mean_a: np.ndarray, mean_b: np.ndarray) -> np.ndarray:
    """(B, n) dimorphism scores of every face for each row of group means (B, k) (module docstring)."""
    v = log_rows(mean_a, mean_b)                                      # (B, k)
    vv = (np.abs(v) ** 2).sum(axis=1, keepdims=True)
    c = np.conj(mean_a) @ Z.T                                          # (B, n): <mu_a, z_j>
    a = np.minimum(np.abs(c), 1.0)
    r = np.arccos(a)
    s = np.sqrt(1.0 - a * a)
    f = np.divide(r, s, out=np.ones_like(r), where=s > 1e-12)
    zv = (np.conj(Z) @ v.T).T                                          # (B, n): <z_j, v_b>
    phase = np.divide(c, a, out=np.ones_like(c), where=a > 0)
    return f * np.real(phase * zv) / vv


def dimorphism_scores(fit: ShapeFit, labels: Sequence, group_a: str, group_b: str) -> np.ndarray:
    """Each face's position along the geodesic from ``group_a``'s mean shape (0) to ``group_b``'s (1)."""
    means = group_means(fit, labels)
    for g in (group_a, group_b):
        if g not in means:
            raise PsychofaceError(f"no group {g!r}; the groups are {', '.join(means)}")
    Z = to_complex(fit.preshapes)
    return _scores(Z, to_complex(means[group_a])[None], to_complex(means[group_b])[None])[0]


def dimorphism(
    fit: ShapeFit,
    labels: Sequence,
    ratings: pd.DataFrame,
    *,
    groups: tuple[str, str] | None = None,
    covariates: pd.DataFrame | None = None,
    n_permutations: int = 10_000,
    n_bootstrap: int = 5_000,
    ci_level: float = 0.95,
    correction: str = "holm",
    seed: int = 0,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Correlation of the dimorphism score (from ``groups[0]``'s mean, 0, to ``groups[1]``'s, 1; default the
    two groups in sorted order) with every attribute of ``ratings``. Returns the table (attribute, n, r,
    ci_low, ci_high, p, p_corr) and the per-face scores."""
    lab, levels = _labels(fit, labels)
    if groups is None:
        if len(levels) != 2:
            raise PsychofaceError(f"{len(levels)} groups ({', '.join(levels)}); the dimorphism score needs two: "
                                  "name the two groups")
        groups = (levels[0], levels[1])
    ga, gb = groups
    score = dimorphism_scores(fit, lab, ga, gb)
    Z, start, logs = to_complex(fit.preshapes), to_complex(fit.mean), to_complex(fit.tangent)
    in_a, in_b = (lab == ga).astype(float), (lab == gb).astype(float)

    def resampled(counts: np.ndarray) -> np.ndarray:
        B = counts.shape[0]
        ind = np.concatenate([counts * in_a, counts * in_b])
        empty = (ind.sum(axis=1) == 0).reshape(2, B).any(axis=0)  # a resample without one group: no score
        ind[np.concatenate([empty, empty])] = 1.0
        M = _means(Z, logs, start, ind, RESAMPLE_TOLERANCE)
        out = _scores(Z, M[:B], M[B:])
        out[empty] = np.nan
        return out

    df = correlate_scores(score, ratings, covariates=covariates, resampled=resampled,
                          n_permutations=n_permutations, n_bootstrap=n_bootstrap, ci_level=ci_level,
                          correction=correction, seed=seed)
    df.insert(1, "score", f"{ga} -> {gb}")
    cov = [] if covariates is None else [str(c) for c in covariates.columns]
    df.attrs["psychoface"] = {
        "analysis": DIMORPHISM, "seed": seed, "ci_level": ci_level,
        "ci_method": "percentile bootstrap over faces, both group means re-estimated in every resample",
        "p_method": ("Freedman-Lane permutation of the ratings' residuals from the covariates, p = (b + 1)/(N + 1)"
                     if cov else "permutation of the ratings over faces, p = (b + 1)/(N + 1)"),
        "correction": correction, "correction_label": correction_label(correction), "family": "attributes",
        "n_permutations": n_permutations, "n_bootstrap": n_bootstrap, "groups": [ga, gb], "covariates": cov,
        "score": f"position along the geodesic from the {ga} mean shape (0) to the {gb} mean shape (1)",
    }
    return df, score
