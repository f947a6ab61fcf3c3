"""Representational similarity analysis (RSA): layer RDMs against rating RDMs, with inference.

- Estimate: the RDM correlation (Spearman's rho by default, Pearson's r, Kendall's tau-a) over the
  upper triangles, see :func:`psychoface.analyses.rdm.compare`.
- p: a Mantel test (Mantel, 1967) permuting the stimulus labels of the layer RDM, p = (b + 1)/(N + 1)
  (Phipson & Smyth, 2010). Both RDM vectors are transformed once (ranks for Spearman) and standardised;
  because permuting stimuli only rearranges an RDM's entries, the permuted statistic is the inner product
  of the fixed standardised vector with the permuted one. Permuted entries are gathered from the square
  matrix in cache-sized blocks of rows, every rating RDM sharing one gather per permutation.
- CI: percentile bootstrap over stimuli (resampled with replacement; the pair of a stimulus with its own
  copy is dropped; Nili et al., 2014). A resample is the original pairs weighted by c_i c_j (c = how
  often each stimulus was drawn), so the correlation of a resample is a weighted correlation; Spearman
  uses weighted mid-ranks (a cumulative sum of the weights in the fixed sort order), which equal the
  mid-ranks of the explicitly resampled vectors.
  Resamples whose correlation is undefined (an RDM constant among the drawn pairs) are ignored and counted.
- Family: Holm (default) across all layers x rating RDMs, in ``p_corr``.
- Noise ceiling: split-half reliability of the rating RDM -- halves of the raters, or, without rater ids,
  random halves of each stimulus's ratings --, Spearman-Brown corrected, and its square root as the ceiling
  of the correlation a noise-free model RDM can reach (Spearman, 1904, as in
  :mod:`psychoface.analyses.reliability`). The split used is carried into the RSA table's method text.
- Partial RSA: the partial correlation of the (ranked) layer and rating RDMs given covariate RDMs, tested
  by permuting the layer RDM only (Smouse et al., 1986). The test is liberal when the layer and the rating
  RDMs both depend on the stimuli's structure (e.g. their pixels) in ways the linear partialling of the
  covariate RDMs does not remove (Guillot & Rousset, 2013): in tests/test_rsa.py it rejected a true
  "no relation beyond the pixels" at alpha = .05 in 46% of 300 simulated studies.
- Layer comparisons: a paired bootstrap over stimuli (the same resamples for both layers).
- Cost: Spearman and Pearson permutations and resamples are vectorised inner products. Kendall's tau-a
  is an exact compiled count per permuted or resampled statistic, O(m log m) over m = n(n - 1)/2 pairs,
  in parallel threads (:mod:`psychoface.analyses.kendall`; about 3 ms per statistic at 500 stimuli on one
  core).

Guillot, G., & Rousset, F. (2013). Dismantling the Mantel tests. *Methods in Ecology and Evolution, 4*(4),
336-344. https://doi.org/10.1111/2041-210x.12018
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.spatial.distance import pdist
from scipy.stats import rankdata

from psychoface.analyses import kendall, rdm_bootstrap
from psychoface.analyses.mantel import GATHER_ELEMENTS, one_blas_thread
from psychoface.analyses.mantel import mantel_null as _mantel_null
from psychoface.analyses.mantel import standardise as _standardise
from psychoface.analyses.inference import (
    correct_p,
    correction_label,
    percentile_ci,
    permutation_p,
    spearman_brown,
)
from psychoface.analyses.rdm import (
    METHODS,
    MIN_STIMULI,
    RDM,
    _few,
    align,
    as_rdm_dict,
    check_method,
    compare,
)
from psychoface.errors import PsychofaceError

P_METHOD = "Mantel permutation of stimulus labels, p = (b + 1)/(N + 1)"
CI_METHOD = "percentile bootstrap over stimuli (pairs of a stimulus with its own copy dropped)"
PARTIAL_P_METHOD = (
    "Mantel permutation of the layer RDM's stimulus labels, rating and covariate RDMs fixed (Smouse et al., "
    "1986), p = (b + 1)/(N + 1); according to Guillot and Rousset (2013) such tests are liberal when the layer and "
    "rating RDMs both depend on strongly structured covariates beyond what the linear partialling removes"
)
SPLITS = {
    True: "random halves of the raters",
    False: "random halves of each stimulus's ratings, there being no rater ids",
}
"""How :func:`rating_rdm_noise_ceiling` halves the ratings: by raters when rater ids exist."""
_CORRELATION_NAMES = {"spearman": "Spearman", "pearson": "Pearson", "tau-a": "Kendall tau-a"}


# --------------------------------------------------------------------------------------------------
# public API


def rsa(
    layer_rdms: Mapping[str, RDM] | Sequence[RDM] | RDM,
    rating_rdms: Mapping[str, RDM] | Sequence[RDM] | RDM,
    *,
    method: str = "spearman",
    n_permutations: int = 10_000,
    n_bootstrap: int = 5_000,
    ci_level: float = 0.95,
    alternative: str = "two-sided",
    correction: str = "holm",
    noise_ceiling=None,
    seed: int = 0,
) -> pd.DataFrame:
    """RSA of every layer RDM against every rating RDM: one row per layer x attribute.

    Columns: ``layer``, ``attribute``, ``method``, ``n`` (stimuli), ``n_pairs``, the RDM correlation named
    after the method (``rho``, ``r`` or ``tau``), ``ci_low``, ``ci_high`` (percentile bootstrap over
    stimuli), ``p`` (Mantel), ``p_corr`` (``correction`` across the layers x attributes family),
    ``noise_ceiling`` and ``r_normalized`` (the correlation -- rho, r or tau -- divided by the ceiling).

    ``noise_ceiling``: None, a mapping/Series attribute -> ceiling, or the DataFrame of
    :func:`rating_rdm_noise_ceiling` (its comparison method must be ``method``; its split -- raters or each
    stimulus's ratings -- goes into ``attrs["psychoface"]["noise_ceiling_method"]``). Every test uses the
    same permutations and resamples (from ``seed``), so a row does not depend on the rest of the family.
    ``n_permutations=0`` or ``n_bootstrap=0`` skips the p-value or the CI (NaN). Resamples with an undefined
    correlation are left out of the CI; ``attrs["psychoface"]["n_bootstrap_undefined"]`` is the largest
    number left out of any row.

    Cost: Spearman and Pearson are vectorised. ``method="tau-a"`` computes one exact O(m log m) Kendall
    tau-a per permutation and per resample (m = n(n - 1)/2 pairs), compiled and in parallel threads.
    """
    check_method(method)
    layers = as_rdm_dict(layer_rdms, "layer")
    ratings = as_rdm_dict(rating_rdms, "rating")
    ids, ref = _reference(layers)
    layers = {k: align(v, ids, ref) for k, v in layers.items()}
    ratings = {k: align(v, ids, ref) for k, v in ratings.items()}
    n = len(ids)
    L, Q = list(layers), list(ratings)
    stat = METHODS[method]
    _check_options(n_permutations, n_bootstrap, ci_level, alternative, correction)
    ceiling, ceiling_method, ceiling_split = _ceilings(noise_ceiling, Q, method)
    perm_ss, boot_ss = np.random.SeedSequence(seed).spawn(2)

    # every vector is ranked (Spearman) and standardised once; the correlation is then an inner product.
    # tau-a: the rating vectors are sorted once (kendall.TauFixed); layer vectors are prepared one at a time
    if method == "tau-a":
        kind, fixed = "tau-a", [kendall.TauFixed(ratings[b].dissimilarities, n) for b in Q]
    else:
        kind, fixed = "standardised", [_standardise(ratings[b].dissimilarities, method, b) for b in Q]
    est = np.empty((len(L), len(Q)))
    p = np.full(est.shape, np.nan)
    for i, a in enumerate(L):
        if kind == "tau-a":
            x = layers[a].dissimilarities
            est[i] = [kendall.tau_a(x, ratings[b].dissimilarities) for b in Q]
        else:
            x = _standardise(layers[a].dissimilarities, method, a)
            est[i] = [np.dot(x, f) for f in fixed]
        if n_permutations:
            p[i] = permutation_p(est[i], _mantel_null(x, fixed, kind, n_permutations, perm_ss), alternative)
    low = np.full(est.shape, np.nan)
    high = np.full(est.shape, np.nan)
    undefined = 0
    if n_bootstrap:
        boot = _bootstrap_cross(
            [layers[a].dissimilarities for a in L],
            [ratings[b].dissimilarities for b in Q],
            method, n, n_bootstrap, np.random.default_rng(boot_ss),
        )
        low, high = percentile_ci(boot, ci_level)
        undefined = _n_undefined(boot)
    rows = []
    for i, a in enumerate(L):
        for j, b in enumerate(Q):
            rows.append({
                "layer": a, "attribute": b, "method": method, "n": n, "n_pairs": n * (n - 1) // 2,
                stat: est[i, j], "ci_low": low[i, j], "ci_high": high[i, j], "p": p[i, j],
                "noise_ceiling": ceiling[j],
            })
    df = pd.DataFrame(rows)
    df.insert(df.columns.get_loc("p") + 1, "p_corr", correct_p(df["p"].to_numpy(), correction))
    df["r_normalized"] = df[stat] / df["noise_ceiling"]
    df.attrs["psychoface"] = {
        "analysis": "rsa",
        "seed": seed,
        "method": method,
        "statistic": stat,
        "metric": {a: layers[a].metric for a in L},
        "rating_metric": {b: ratings[b].metric for b in Q},
        "n_permutations": n_permutations,
        "n_bootstrap": n_bootstrap,
        "n_bootstrap_undefined": undefined,
        "ci_level": ci_level,
        "ci_method": _ci_method(CI_METHOD, undefined, n_bootstrap),
        "p_method": P_METHOD if n_permutations else "not computed",
        "alternative": alternative,
        "correction": correction_label(correction),
        "family": f"{len(L)} layer{'s' * (len(L) != 1)} x {len(Q)} rating RDM{'s' * (len(Q) != 1)}",
        "noise_ceiling_method": ceiling_method,
        "noise_ceiling_split": ceiling_split,
    }
    return df


def partial_rsa(
    layer_rdms: Mapping[str, RDM] | Sequence[RDM] | RDM,
    rating_rdms: Mapping[str, RDM] | Sequence[RDM] | RDM,
    covariates: Mapping[str, RDM] | Sequence[RDM] | RDM,
    *,
    method: str = "spearman",
    n_permutations: int = 10_000,
    n_bootstrap: int = 5_000,
    ci_level: float = 0.95,
    alternative: str = "two-sided",
    correction: str = "holm",
    seed: int = 0,
) -> pd.DataFrame:
    """Partial RSA: layer x rating RDM correlation controlling for covariate RDMs (pixels, another layer,
    another attribute).

    The (for Spearman: ranked) RDM vectors' partial correlation: the correlation of the layer vector with
    the residual of the rating vector after regressing both on the covariates (with an intercept), as
    pingouin's ``partial_corr``. p: the Mantel permutation of the layer RDM's stimulus labels with the rating
    and covariate RDMs fixed (Smouse et al., 1986); CI: the percentile bootstrap over stimuli.
    Columns as :func:`rsa` plus ``covariates``; ``partial_rho`` / ``partial_r`` hold the estimate.

    The permutation p is valid when the layer RDM's relation to the covariates is itself exchangeable; when
    the layer and the rating both depend on strongly structured covariates (e.g. both computed from the
    stimuli's pixels, in different ways) the partial Mantel test is liberal (Guillot & Rousset, 2013). In
    tests/test_rsa.py it held .05 when the layer and rating RDMs were linear in the covariate RDM plus
    independent noise (type I error .060, MC SE .011), and rejected in 46% of 300 studies in which both were
    independent random functions of the same pixels. Read a small partial p with that in mind; the method
    text says so.
    """
    check_method(method)
    if method == "tau-a":
        raise PsychofaceError(
            "partial RSA with tau-a is not defined here: use method='spearman' or 'pearson'"
        )
    layers = as_rdm_dict(layer_rdms, "layer")
    ratings = as_rdm_dict(rating_rdms, "rating")
    covs = as_rdm_dict(covariates, "covariate")
    ids, ref = _reference(layers)
    layers = {k: align(v, ids, ref) for k, v in layers.items()}
    ratings = {k: align(v, ids, ref) for k, v in ratings.items()}
    covs = {k: align(v, ids, ref) for k, v in covs.items()}
    n = len(ids)
    L, Q, C = list(layers), list(ratings), list(covs)
    stat = "partial_" + METHODS[method]
    _check_options(n_permutations, n_bootstrap, ci_level, alternative, correction)
    perm_ss, boot_ss = np.random.SeedSequence(seed).spawn(2)

    z_cov = np.stack([_standardise(covs[c].dissimilarities, method, c) for c in C])
    basis = _covariate_basis(z_cov, C)
    resid = {}
    for b in Q:
        e = _residual(_standardise(ratings[b].dissimilarities, method, b), basis)
        if np.dot(e, e) < 1e-12:
            raise PsychofaceError(
                f"rating RDM {b!r} is fully explained by the covariates {_few(C)}; a partial correlation "
                "is undefined: drop the covariate that duplicates it"
            )
        resid[b] = e / np.sqrt(np.dot(e, e))
    fixed = [resid[b] for b in Q] + list(basis)
    est = np.full((len(L), len(Q)), np.nan)
    p = np.full_like(est, np.nan)
    for i, a in enumerate(L):
        x = _standardise(layers[a].dissimilarities, method, a)
        proj = basis @ x
        if 1.0 - np.dot(proj, proj) < 1e-12:
            raise PsychofaceError(
                f"layer RDM {a!r} is fully explained by the covariates {_few(C)}; drop the covariate "
                "that duplicates it"
            )
        est[i] = _partial_from_products(np.array([resid[b] @ x for b in Q] + list(proj)), len(Q))
        if n_permutations:
            null = _mantel_null(x, fixed, "standardised", n_permutations, perm_ss)
            p[i] = permutation_p(est[i], _partial_from_products(null, len(Q)), alternative)
    low = np.full(est.shape, np.nan)
    high = np.full(est.shape, np.nan)
    undefined = 0
    if n_bootstrap:
        boot = _bootstrap_partial(
            [layers[a].dissimilarities for a in L], [ratings[b].dissimilarities for b in Q],
            [covs[c].dissimilarities for c in C], method, n, n_bootstrap,
            np.random.default_rng(boot_ss),
        )
        low, high = percentile_ci(boot, ci_level)
        undefined = _n_undefined(boot)
    rows = [
        {"layer": a, "attribute": b, "covariates": ", ".join(C), "method": method, "n": n,
         "n_pairs": n * (n - 1) // 2, stat: est[i, j], "ci_low": low[i, j], "ci_high": high[i, j],
         "p": p[i, j]}
        for i, a in enumerate(L) for j, b in enumerate(Q)
    ]
    df = pd.DataFrame(rows)
    df["p_corr"] = correct_p(df["p"].to_numpy(), correction)
    df.attrs["psychoface"] = {
        "analysis": "partial_rsa",
        "seed": seed,
        "method": method,
        "statistic": stat,
        "covariates": C,
        "metric": {a: layers[a].metric for a in L},
        "n_permutations": n_permutations,
        "n_bootstrap": n_bootstrap,
        "n_bootstrap_undefined": undefined,
        "ci_level": ci_level,
        "ci_method": _ci_method(CI_METHOD, undefined, n_bootstrap),
        "p_method": PARTIAL_P_METHOD if n_permutations else "not computed",
        "alternative": alternative,
        "correction": correction_label(correction),
        "family": f"{len(L)} layer{'s' * (len(L) != 1)} x {len(Q)} rating RDM{'s' * (len(Q) != 1)}",
    }
    return df


def compare_layers(
    rdm_a: RDM,
    rdm_b: RDM,
    rating_rdms: Mapping[str, RDM] | Sequence[RDM] | RDM,
    *,
    method: str = "spearman",
    n_bootstrap: int = 5_000,
    ci_level: float = 0.95,
    correction: str = "holm",
    seed: int = 0,
) -> pd.DataFrame:
    """Is layer A's RDM closer to each rating RDM than layer B's? Paired bootstrap over stimuli.

    One row per rating RDM. Both correlations are recomputed on the same resamples of stimuli (the same
    resamples for every rating RDM); ``difference`` = A - B with its percentile CI and a two-sided bootstrap
    p = min(1, 2 min(#(d* <= 0) + 1, #(d* >= 0) + 1) / (N + 1)) over the N resamples where both correlations
    are defined; ``p_corr``: ``correction`` across the rating RDMs. With tau-a each resample costs two
    compiled O(m log m) tau-a per rating RDM (see :func:`rsa`).
    """
    check_method(method)
    _check_options(0, n_bootstrap, ci_level, "two-sided", correction)
    if n_bootstrap < 1:
        raise PsychofaceError(f"n_bootstrap = {n_bootstrap}: a paired bootstrap needs at least 1 resample, e.g. 5000")
    ids = list(rdm_a.ids)
    rdm_b = align(rdm_b, ids, rdm_a.name)
    ratings = {k: align(v, ids, rdm_a.name) for k, v in as_rdm_dict(rating_rdms, "rating").items()}
    stat = METHODS[method]
    est = np.array([[compare(layer, r, method) for r in ratings.values()] for layer in (rdm_a, rdm_b)])
    boot = _bootstrap_cross(
        [rdm_a.dissimilarities, rdm_b.dissimilarities], [r.dissimilarities for r in ratings.values()], method,
        len(ids), n_bootstrap, np.random.default_rng(seed),
    )
    diffs = boot[:, 0, :] - boot[:, 1, :]  # (N, rating RDMs)
    rows = []
    for k, name in enumerate(ratings):
        d = diffs[:, k][np.isfinite(diffs[:, k])]
        low, high = percentile_ci(d, ci_level)
        p = min(1.0, 2.0 * (min((d <= 0).sum(), (d >= 0).sum()) + 1.0) / (d.size + 1.0))
        rows.append({
            "layer_a": rdm_a.name, "layer_b": rdm_b.name, "attribute": name, "method": method,
            "n": len(ids), "n_pairs": rdm_a.n_pairs, f"{stat}_a": est[0, k], f"{stat}_b": est[1, k],
            "difference": est[0, k] - est[1, k], "ci_low": float(low), "ci_high": float(high), "p": p,
        })
    df = pd.DataFrame(rows)
    df["p_corr"] = correct_p(df["p"].to_numpy(), correction)
    undefined = _n_undefined(diffs)
    df.attrs["psychoface"] = {
        "analysis": "compare_layers",
        "seed": seed,
        "method": method,
        "statistic": stat,
        "metric": {rdm_a.name: rdm_a.metric, rdm_b.name: rdm_b.metric},
        "n_bootstrap": n_bootstrap,
        "n_bootstrap_undefined": undefined,
        "ci_level": ci_level,
        "ci_method": _ci_method("paired " + CI_METHOD + "; the same resamples for both layers", undefined,
                                n_bootstrap),
        "p_method": "two-sided paired bootstrap: p is twice the smaller of the proportions of bootstrap "
        "differences at or below zero and at or above zero, each counted as (b + 1)/(N + 1), at most 1",
        "correction": correction_label(correction),
        "family": f"{len(ratings)} rating RDM{'s' * (len(ratings) != 1)}",
    }
    return df


def rating_rdm_noise_ceiling(
    trials: pd.DataFrame,
    attributes: str | Sequence[str] | None = None,
    *,
    combine: bool = False,
    method: str = "spearman",
    n_splits: int = 100,
    min_ratings: int = 2,
    ids: Sequence[str] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Split-half reliability and noise ceiling of rating RDMs built from trial-level ratings.

    ``trials``: the long DataFrame (``stimulus``, ``attribute``, ``rating``, optional ``rater``). In each of
    ``n_splits`` random splits the ratings are halved -- by raters when rater ids exist, otherwise each
    stimulus's ratings of an attribute are randomly split into halves of floor(k/2) and ceil(k/2) --, a
    rating RDM is built from each half's mean ratings (as :func:`psychoface.analyses.rdm.rating_rdm`), and
    the two RDMs are compared with ``method``; the split-half r is averaged over splits and the mean is
    Spearman-Brown corrected (factor 2). ``reliability`` and ``noise_ceiling`` = sqrt(reliability) are
    undefined (NaN, with the reason in ``note``) when the mean split-half r <= 0.
    The split used is in ``attrs["psychoface"]["split"]`` (:data:`SPLITS`); :func:`rsa` carries it into its
    method text.

    The ceiling is an approximation: an RDM of absolute differences is not a classical true score plus
    independent error. In simulations (tests/test_rsa.py: 60 stimuli, 20 raters, true attribute plus normal
    noise) it matched the Spearman correlation of the true RDM with the mean-rating RDM within .005 (ceilings
    .91 and .73); at low reliability (ceiling near .55) it fell .01-.03 below it, and with Pearson about .01
    below at .8.

    One row per attribute (``combine=False``) or one row for the RDM across all ``attributes`` (z-scored
    Euclidean, named as rating_rdm names it). Stimuli with fewer than ``min_ratings`` ratings (of any
    attribute used) are excluded and counted in ``excluded_stimuli``; ``ids`` restricts the stimuli to the
    RDMs' stimuli. With raters, stimuli lacking ratings in one half of a split are left out of that split
    (``n`` is then the smallest number of stimuli used in a split).
    """
    check_method(method)
    if n_splits < 1:
        raise PsychofaceError(f"n_splits = {n_splits}: use at least 1 split, e.g. 100")
    trials = _check_trials(trials)
    known = list(dict.fromkeys(trials["attribute"]))
    if attributes is None:
        attributes = known
    attributes = [attributes] if isinstance(attributes, str) else list(attributes)
    unknown = [a for a in attributes if a not in known]
    if unknown:
        raise PsychofaceError(f"unknown attribute {_few(unknown)}; the trials rate {_few(known, 10)}")
    if combine and len(attributes) < 2:
        raise PsychofaceError("combine=True needs at least two attributes: name them")
    targets = [attributes] if combine else [[a] for a in attributes]
    by_rater = "rater" in trials.columns and trials["rater"].notna().all()
    rows = []
    for target in targets:
        rows.append(_split_half_rdm(trials, target, method, n_splits, min_ratings, ids, by_rater, seed))
    df = pd.DataFrame(rows)
    df.attrs["psychoface"] = {
        "analysis": "rating_rdm_noise_ceiling",
        "seed": seed,
        "method": method,
        "n_splits": n_splits,
        "min_ratings": min_ratings,
        "split": SPLITS[by_rater],
        "reliability_method": "RDM correlation of split halves averaged over splits, then Spearman-Brown "
        "corrected (factor 2)",
        "noise_ceiling_method": "sqrt(reliability) (Spearman, 1904)",
    }
    return df


_pair_indices = kendall.pair_indices


# --------------------------------------------------------------------------------------------------
# partial correlation


def _covariate_basis(z_cov: np.ndarray, names) -> np.ndarray:
    """Orthonormal basis (rows) of the span of the centred covariate vectors."""
    u, s, _ = np.linalg.svd(z_cov.T, full_matrices=False)
    if s.min() < 1e-8 * s.max():
        raise PsychofaceError(
            f"covariate RDMs {_few(names)} are collinear (one is a linear combination of the others); "
            "drop the redundant one"
        )
    return u.T


def _residual(v: np.ndarray, basis: np.ndarray) -> np.ndarray:
    return v - basis.T @ (basis @ v)


def _partial_from_products(products: np.ndarray, q: int) -> np.ndarray:
    """Partial r from x's inner products with the q unit rating residuals and the covariate basis
    (x standardised): r = <e_y, x> / sqrt(1 - |U x|^2). ``products`` is (..., q + k)."""
    proj = products[..., q:]
    resid_norm = np.sqrt(np.maximum(1.0 - (proj * proj).sum(axis=-1, keepdims=True), 1e-300))
    return products[..., :q] / resid_norm


# --------------------------------------------------------------------------------------------------
# bootstrap over stimuli


class _Boot:
    """One RDM vector prepared for weighted resampling (see :func:`_pair_weights`).

    Pearson: the values themselves. Spearman: weighted mid-ranks, computed in the vector's fixed sort order
    (pair weights there come from the counts through the sorted pair indices; a cumulative sum gives the
    ranks; tied values share the mean of their ranks) and mapped back to the original pair order.
    """

    def __init__(self, v: np.ndarray, method: str, pairs: tuple[np.ndarray, np.ndarray]):
        self.v = np.asarray(v, dtype=np.float64)
        self.ranked = method == "spearman"
        if self.ranked:
            order = np.argsort(self.v, kind="stable")
            self.i_sorted, self.j_sorted = pairs[0][order], pairs[1][order]
            self.inverse = np.empty_like(self.i_sorted)
            self.inverse[order] = np.arange(order.size, dtype=self.inverse.dtype)
            sv = self.v[order]
            new = np.concatenate([[True], sv[1:] != sv[:-1]])
            self.ends = None if new.all() else np.concatenate([np.flatnonzero(new)[1:] - 1, [sv.size - 1]])
            self.group = None if new.all() else np.cumsum(new) - 1

    def standardised(self, counts: np.ndarray, w: np.ndarray) -> np.ndarray:
        """For each resample (row of ``counts``, pair weights ``w``): weighted-centred values of weighted
        unit norm, in the original pair order (NaN rows where the vector is constant in the resample)."""
        if self.ranked:
            w_sorted = np.take(counts, self.i_sorted, axis=1) * np.take(counts, self.j_sorted, axis=1)
            x = self._mid_ranks(w_sorted)
            weights = w_sorted
        else:
            x = np.broadcast_to(self.v, w.shape)
            weights = w
        x = x - (np.einsum("bm,bm->b", weights, x) / weights.sum(axis=1))[:, None]
        norm = np.sqrt(np.einsum("bm,bm,bm->b", weights, x, x))
        with np.errstate(invalid="ignore", divide="ignore"):
            x /= np.where(norm > 0, norm, np.nan)[:, None]
        return np.take(x, self.inverse, axis=1) if self.ranked else x

    def _mid_ranks(self, w_sorted: np.ndarray) -> np.ndarray:
        """Mid-ranks, in sorted order, of the vector in which each entry occurs w times."""
        cum = np.cumsum(w_sorted, axis=1)
        if self.ends is None:
            return cum - (w_sorted - 1.0) / 2.0
        end = cum[:, self.ends]
        return np.take(end - (np.diff(end, axis=1, prepend=0.0) - 1.0) / 2.0, self.group, axis=1)


def _counts(n: int, n_bootstrap: int, batch: int, rng: np.random.Generator):
    """Batches of resamples: resample k is the k-th ``rng.integers(0, n, n)``; yields (index of the batch's
    first resample, (B, n) int64 counts c of each stimulus in the resample)."""
    for start in range(0, n_bootstrap, batch):
        draws = np.stack([rng.integers(0, n, n) for _ in range(min(batch, n_bootstrap - start))])
        offsets = n * np.arange(len(draws))[:, None]
        yield start, np.bincount((draws + offsets).ravel(), minlength=n * len(draws)).reshape(len(draws), n)


def _pair_weights(n: int, n_bootstrap: int, rng: np.random.Generator):
    """Batches of resamples as :func:`_counts` (float64), with the (B, m) weights c_i * c_j of each original
    pair of distinct stimuli -- how often the pair occurs in the resample."""
    i, j = _pair_indices(n)
    for start, c in _counts(n, n_bootstrap, max(1, GATHER_ELEMENTS // i.size), rng):
        c = c.astype(np.float64)
        yield start, c, np.take(c, i, axis=1) * np.take(c, j, axis=1)


def _bootstrap_cross(xs, ys, method, n, n_bootstrap, rng) -> np.ndarray:
    """(N, len(xs), len(ys)) bootstrap RDM correlations of every x with every y, compiled
    (:mod:`psychoface.analyses.rdm_bootstrap`, :mod:`psychoface.analyses.kendall`). The layer vectors
    ``xs`` are prepared one at a time, each replaying the same resamples, so memory holds one of them."""
    out = np.full((n_bootstrap, len(xs), len(ys)), np.nan)
    if method == "tau-a":
        fixed = [kendall.TauFixed(y, n) for y in ys]
        prepare = lambda x: [kendall.ranked(x, f) for f in fixed]  # noqa: E731
        stat = lambda px, k, c: kendall.bootstrap(px[k], fixed[k], c)  # noqa: E731
    elif method == "spearman":
        py = [rdm_bootstrap.Prepared(y, n) for y in ys]
        prepare = lambda x: rdm_bootstrap.Prepared(x, n)  # noqa: E731
        stat = lambda px, k, c: rdm_bootstrap.spearman(px, py[k], c)  # noqa: E731
    else:
        zy = [_standardise(y, method) for y in ys]
        prepare = lambda x: _standardise(x, method)  # noqa: E731
        stat = lambda px, k, c: rdm_bootstrap.pearson(px, zy[k], n, c)  # noqa: E731
    state = rng.bit_generator.state
    for a, x in enumerate(xs):
        rng.bit_generator.state = state  # the same resamples for every layer
        px = prepare(x)
        for start, c in _counts(n, n_bootstrap, kendall.BATCH, rng):
            for k in range(len(ys)):
                out[start : start + len(c), a, k] = stat(px, k, c)
        del px
    return out


@one_blas_thread
def _bootstrap_partial(xs, ys, covs, method, n, n_bootstrap, rng) -> np.ndarray:
    """(N, len(xs), len(ys)) bootstrap partial correlations given the covariates."""
    out = np.full((n_bootstrap, len(xs), len(ys)), np.nan)
    pairs = _pair_indices(n)
    boots = [_Boot(v, method, pairs) for v in (*covs, *ys, *xs)]
    k, q = len(covs), len(ys)
    for start, c, w in _pair_weights(n, n_bootstrap, rng):
        V = np.stack([v.standardised(c, w) for v in boots])  # (k + q + len(xs), B, m)
        corr = np.einsum("pbm,qbm->bpq", V * w, V)
        for ix in range(len(xs)):
            for iy in range(q):
                sel = list(range(k)) + [k + iy, k + q + ix]
                prec = _inverse(corr[:, sel][:, :, sel])
                out[start : start + len(w), ix, iy] = -prec[:, -1, -2] / np.sqrt(prec[:, -1, -1] * prec[:, -2, -2])
    return out


def _inverse(m: np.ndarray) -> np.ndarray:
    """Inverse of each matrix in a stack; NaN for a singular one (or one with NaN)."""
    out = np.full_like(m, np.nan)
    ok = np.isfinite(m).all(axis=(1, 2)) & (np.abs(np.linalg.det(m)) > 1e-12)
    out[ok] = np.linalg.inv(m[ok])
    return out


# --------------------------------------------------------------------------------------------------
# noise ceiling of rating RDMs


def _check_trials(trials) -> pd.DataFrame:
    if not isinstance(trials, pd.DataFrame):
        raise PsychofaceError(
            "the noise ceiling needs trial-level ratings (a DataFrame with columns stimulus, attribute, "
            "rating[, rater]); means alone have no split halves"
        )
    missing = [c for c in ("stimulus", "attribute", "rating") if c not in trials.columns]
    if missing:
        raise PsychofaceError(
            f"trial-level ratings lack column {_few(missing)}; expected stimulus, attribute, rating[, rater]"
        )
    cols = ["stimulus", "attribute", "rating"] + (["rater"] if "rater" in trials.columns else [])
    out = trials[cols].copy()
    out["stimulus"] = out["stimulus"].astype(str)
    out["attribute"] = out["attribute"].astype(str)
    rating = pd.to_numeric(out["rating"], errors="coerce")
    bad = ~np.isfinite(rating.to_numpy(dtype=float))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise PsychofaceError(
            f"trial-level ratings row {row}: rating {trials['rating'].iloc[row]!r} of stimulus "
            f"{out['stimulus'].iloc[row]!r} is not a number; fix or remove the row"
        )
    out["rating"] = rating.astype(float)
    return out.reset_index(drop=True)


def _split_half_rdm(trials, target, method, n_splits, min_ratings, ids, by_rater, seed) -> dict:
    """One noise-ceiling row for the rating RDM of ``target`` (one attribute, or several combined)."""
    name = "+".join(target)
    sub = trials[trials["attribute"].isin(target)]
    counts = sub.groupby(["stimulus", "attribute"]).size().unstack("attribute").reindex(columns=target)
    pool = counts.index if ids is None else pd.Index([str(i) for i in ids])
    counts = counts.reindex(pool).fillna(0)
    keep = counts.index[(counts >= min_ratings).all(axis=1)]
    excluded = len(pool) - len(keep)
    if len(keep) < MIN_STIMULI:
        raise PsychofaceError(
            f"{name}: {len(keep)} stimuli have at least {min_ratings} ratings; a split-half RDM needs "
            f"{MIN_STIMULI} or more: collect more ratings"
        )
    sub = sub[sub["stimulus"].isin(keep)]
    stim = pd.Categorical(sub["stimulus"], categories=keep).codes.astype(np.int64)  # int8 codes would overflow in the cell index
    attr = pd.Categorical(sub["attribute"], categories=target).codes.astype(np.int64)
    cell = stim * len(target) + attr
    n_cells = len(keep) * len(target)
    rating = sub["rating"].to_numpy()
    rng = np.random.default_rng(seed)
    if by_rater:
        raters = pd.Categorical(sub["rater"].astype(str))
        rater_code, n_raters = raters.codes, len(raters.categories)
        if n_raters < 2:
            raise PsychofaceError(f"{name}: ratings come from one rater; a split by raters needs two or more")
    else:
        size = np.bincount(cell, minlength=n_cells)
        start = np.concatenate([[0], np.cumsum(size)[:-1]])
    r_half, used = [], []
    for _ in range(n_splits):
        if by_rater:
            half = (rng.permutation(n_raters) < n_raters // 2)[rater_code]
        else:
            key = rng.random(len(rating))
            order = np.lexsort((key, cell))  # by cell, random within a cell
            pos = np.empty(len(rating), dtype=np.int64)
            pos[order] = np.arange(len(rating)) - start[cell[order]]
            half = pos < (size // 2)[cell]
        means = []
        for h in (half, ~half):
            total = np.bincount(cell[h], weights=rating[h], minlength=n_cells)
            k = np.bincount(cell[h], minlength=n_cells)
            with np.errstate(invalid="ignore", divide="ignore"):
                means.append((total / k).reshape(len(keep), len(target)))
        ok = np.isfinite(means[0]).all(axis=1) & np.isfinite(means[1]).all(axis=1)
        used.append(int(ok.sum()))
        if ok.sum() < MIN_STIMULI:
            r_half.append(np.nan)
            continue
        d1, d2 = (_half_rdm(m[ok]) for m in means)
        r_half.append(_vector_corr(d1, d2, method))
    r_half = np.array(r_half)
    valid = np.isfinite(r_half)
    # Spearman-Brown of the mean split-half r (as split_half_reliability): averaging corrected values
    # instead would blow up as r -> -1 and is biased by the correction's non-linearity
    r_mean = float(np.mean(r_half[valid])) if valid.any() else np.nan
    reliability = float(spearman_brown(r_mean)) if r_mean > 0 else np.nan
    note = ""
    if not valid.all():
        note = f"{int((~valid).sum())} of {n_splits} splits undefined (a half without variance or stimuli)"
    if not r_mean > 0:
        note = (note + "; " if note else "") + "mean split-half r <= 0: reliability and noise ceiling undefined"
    return {
        "attribute": name,
        "method": method,
        "n": int(min(used)),
        "excluded_stimuli": int(excluded),
        "n_splits": int(valid.sum()),
        "r_half": float(np.nanmean(r_half)) if valid.any() else np.nan,
        "reliability": reliability,
        "noise_ceiling": float(np.sqrt(reliability)) if reliability > 0 else np.nan,
        "note": note,
    }


def _half_rdm(means: np.ndarray) -> np.ndarray | None:
    """Rating RDM of one half's means: |difference| (one attribute) or Euclidean on z-scores."""
    if means.shape[1] == 1:
        return pdist(means, "cityblock")
    sd = means.std(axis=0, ddof=1)
    if (sd == 0).any():
        return None
    return pdist((means - means.mean(axis=0)) / sd, "euclidean")


def _vector_corr(a, b, method) -> float:
    if a is None or b is None or np.ptp(a) == 0 or np.ptp(b) == 0:
        return np.nan
    if method == "tau-a":
        return kendall.tau_a(a, b)
    if method == "spearman":
        a, b = rankdata(a), rankdata(b)
    a = a - a.mean()
    b = b - b.mean()
    return float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))


# --------------------------------------------------------------------------------------------------
# helpers


def _check_options(n_permutations, n_bootstrap, ci_level, alternative, correction) -> None:
    """Reject bad options before any expensive work."""
    for label, value in (("n_permutations", n_permutations), ("n_bootstrap", n_bootstrap)):
        if int(value) != value or value < 0:
            raise PsychofaceError(f"{label} = {value!r}: use a whole number >= 0 (0 skips it)")
    if not 0 < ci_level < 1:
        raise PsychofaceError(f"confidence level {ci_level} must lie between 0 and 1, e.g. 0.95")
    if alternative not in ("two-sided", "greater", "less"):
        raise PsychofaceError(f"unknown alternative {alternative!r}: use two-sided, greater or less")
    correction_label(correction)


def _reference(layers: dict) -> tuple[list[str], str]:
    """The first layer's stimulus ids and name: every other RDM is aligned to them (or an error)."""
    name, rdm = next(iter(layers.items()))
    return list(rdm.ids), name


def _ceilings(noise_ceiling, attributes, method) -> tuple[np.ndarray, str, str | None]:
    """Ceiling per rating RDM, the sentence that says how it was computed, and the split used (or None)."""
    if noise_ceiling is None:
        return np.full(len(attributes), np.nan), "none", None
    description, split = "given with the analysis (method not recorded)", None
    if isinstance(noise_ceiling, pd.DataFrame):
        meta = noise_ceiling.attrs.get("psychoface", {})
        nc_method = meta.get("method", method)
        if nc_method != method:
            raise PsychofaceError(
                f"the noise ceiling was computed with {nc_method!r} RDM correlations, the RSA uses "
                f"{method!r}: recompute it with method={method!r}"
            )
        split = meta.get("split")
        description = (
            f"square root of the rating RDM's split-half reliability ({_CORRELATION_NAMES[method]} correlation "
            f"of the RDMs of {split}; mean over {meta.get('n_splits')} splits, Spearman\u2013Brown corrected)"
            if split else "square root of the rating RDM's split-half reliability (split not recorded)"
        )
        noise_ceiling = noise_ceiling.set_index("attribute")["noise_ceiling"]
    values = pd.Series(dict(noise_ceiling) if isinstance(noise_ceiling, Mapping) else noise_ceiling, dtype=float)
    missing = [a for a in attributes if a not in values.index]
    if missing:
        raise PsychofaceError(
            f"no noise ceiling for rating RDM {_few(missing)}; compute it with rating_rdm_noise_ceiling "
            "for every attribute, or pass noise_ceiling=None"
        )
    return values.reindex(attributes).to_numpy(dtype=float), description, split


def _n_undefined(boot: np.ndarray) -> int:
    """The largest number of undefined (NaN) resamples of any statistic in a (N, ...) bootstrap array."""
    return int(np.isnan(boot).sum(axis=0).max()) if boot.size else 0


def _ci_method(text: str, undefined: int, n_bootstrap: int) -> str:
    """The CI method text, saying how many resamples were left out when any were."""
    if not undefined:
        return text
    return (f"{text}; resamples with an undefined correlation (an RDM constant among the drawn pairs) ignored: "
            f"up to {undefined:,} of {n_bootstrap:,}")
