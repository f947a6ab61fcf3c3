"""Face space on the unit sphere: Fréchet (Karcher) means, distinctiveness and group means.

Valentine's (1991) face-space model with a network layer as the space: each face's layer vector,
normalised to unit length, is a point on the sphere (its direction: the geometry of cosine and
correlation RDMs). Computation runs in the span of the data (:mod:`.span`), an n-dimensional totally
geodesic subsphere, so a 100,352-dimensional layer costs one Gram matrix.

- Fréchet (Karcher) mean: the minimiser of the sum of squared geodesic distances, found by Riemannian
  gradient descent ``mu <- exp_mu(mean_i log_mu(p_i))`` (Karcher, 1977; Pennec, 2006), vectorised over
  any number of weightings (bootstrap resamples, permuted groups) at once. It is unique when the points
  lie in an open hemisphere (Buss & Fillmore, 2001); :func:`in_open_hemisphere` checks this by a linear
  program (is there a v with <v, p_i> > 0 for every i?).
- Distinctiveness of a face: its geodesic distance (angle, radians) to the Fréchet mean.
- Correlations of distinctiveness with ratings: Pearson (or Spearman) r; percentile bootstrap CI over
  faces in which every resample re-estimates the mean (weighted by how often each face was drawn); p from
  permuting the ratings over faces, (b + 1)/(N + 1); Holm across layers x attributes.
- Group means: the Fréchet means of two groups of faces and the geodesic distance between them, with a
  label-permutation p (exact: both means re-estimated in every permutation), or the tangent-space
  approximation at the pooled mean (faces mapped once by the log map; a group mean is then a linear
  average and the statistic the norm of the difference of the tangent means), which is fast for large n.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linprog
from scipy.stats import rankdata

from psychoface.analyses.geometry.span import permutation_blocks, span_coordinates
from psychoface.analyses.inference import correct_p, correction_label, percentile_ci, permutation_p
from psychoface.analyses.predict import check_ratings
from psychoface.errors import PsychofaceError

MIN_GROUP = 3
_BLOCK_ELEMENTS = 2**23  # weights x points handled at once


def karcher_mean(P: np.ndarray, weights=None, *, tol: float = 1e-10, max_iter: int = 1000):
    """Weighted Fréchet means on the sphere of the unit rows of ``P`` (n x r).

    ``weights`` (B x n, rows summing to 1; default the uniform weights) gives B means at once. Returns
    ``(means (B x r), iterations)``. Each step is the full Riemannian gradient step ``exp_mu(mean log_mu p)``,
    halved for a weighting whose weighted variance would increase (the adaptive rule of geomstats'
    ``FrechetMean(method="adaptive")``); a weighting stops when its gradient norm falls below ``tol`` or no
    halved step lowers its variance (the floating-point floor).
    """
    n = P.shape[0]
    W = np.full((1, n), 1.0 / n) if weights is None else np.atleast_2d(np.asarray(weights, dtype=float))
    mu = W @ P
    mu /= np.linalg.norm(mu, axis=1, keepdims=True)
    step = np.ones(len(W))
    c = np.clip(P @ mu.T, -1.0, 1.0)  # n x B cosines to the current means
    var = np.einsum("bn,nb->b", W, np.arccos(c) ** 2)
    active = np.ones(len(W), dtype=bool)
    for it in range(1, max_iter + 1):
        idx = np.flatnonzero(active)
        ca = c[:, idx]
        theta = np.arccos(ca)
        f = np.where(theta > 1e-8, theta / np.sin(np.where(theta > 1e-8, theta, 1.0)), 1.0)
        A = W[idx] * f.T
        grad = A @ P - (A * ca.T).sum(axis=1)[:, None] * mu[idx]
        done = np.linalg.norm(grad, axis=1) < tol
        todo = ~done
        for _ in range(40):
            new = _exp(mu[idx], grad * step[idx, None])
            new_c = np.clip(P @ new.T, -1.0, 1.0)
            new_var = np.einsum("bn,nb->b", W[idx], np.arccos(new_c) ** 2)
            worse = todo & (new_var > var[idx] * (1 + 1e-13))
            if not worse.any():
                break
            step[idx[worse]] /= 2
        else:  # no halved step lowers the variance: at the floating-point floor
            done |= worse
        keep = ~done
        mu[idx[keep]], c[:, idx[keep]], var[idx[keep]] = new[keep], new_c[:, keep], new_var[keep]
        active[idx[done]] = False
        if not active.any():
            return mu, it
    return mu, max_iter


def _exp(mu, v):
    """Exponential map at the unit rows of ``mu`` of the tangent rows of ``v``."""
    t = np.linalg.norm(v, axis=1, keepdims=True)
    safe = np.where(t > 0, t, 1.0)
    out = np.cos(t) * mu + np.sin(t) * v / safe
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def geodesic_distances(P: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Angles (radians) between the unit rows of ``P`` and the unit vector(s) ``mu``."""
    return np.arccos(np.clip(P @ np.asarray(mu).T, -1.0, 1.0))


def in_open_hemisphere(P: np.ndarray) -> bool:
    """Whether the unit rows of ``P`` lie in an open hemisphere: max over |v|_inf <= 1 of min_i <v, p_i> > 0.

    Tried first with the normalised arithmetic mean as v; otherwise decided by a linear program
    (``scipy.optimize.linprog``, HiGHS).
    """
    m = P.sum(axis=0)
    if np.linalg.norm(m) > 0 and (P @ m).min() > 1e-12 * np.linalg.norm(m):
        return True
    n, r = P.shape
    c = np.zeros(r + 1)
    c[-1] = -1.0  # maximise t
    A = np.hstack([-P, np.ones((n, 1))])  # t - <v, p_i> <= 0
    res = linprog(c, A_ub=A, b_ub=np.zeros(n), bounds=[(-1, 1)] * r + [(None, 1)], method="highs")
    return bool(res.status == 0 and -res.fun > 1e-9)


def distinctiveness(X, ids, name: str = "layer") -> pd.DataFrame:
    """Each face's geodesic distance to the Fréchet mean of the layer's face directions.

    Returns one row per face (``stimulus, layer, distinctiveness``), with ``attrs["psychoface"]`` giving
    the hemisphere check and the iterations of the mean.
    """
    ids = [str(i) for i in ids]
    P = span_coordinates(X, ids, name)
    mu, iterations = karcher_mean(P)
    df = pd.DataFrame({"stimulus": ids, "layer": name, "distinctiveness": geodesic_distances(P, mu)[:, 0]})
    df.attrs["psychoface"] = {
        "analysis": "distinctiveness",
        "layer": name,
        "open_hemisphere": in_open_hemisphere(P),
        "karcher_iterations": iterations,
        "span_dimensions": P.shape[1],
        "seed": None,
    }
    return df


def distinctiveness_correlations(
    layers,
    Y: pd.DataFrame,
    *,
    attributes=None,
    method: str = "pearson",
    n_permutations: int = 10_000,
    n_bootstrap: int = 2_000,
    ci_level: float = 0.95,
    correction: str = "holm",
    seed: int = 0,
) -> pd.DataFrame:
    """Correlation of each layer's distinctiveness with each attribute's mean ratings.

    ``layers``: mapping layer name -> (n_stimuli x n_features) array in the order of ``Y``'s rows.
    One row per layer x attribute: ``layer, attribute, n, r, ci_low, ci_high, p, p_corr,
    mean_distinctiveness, open_hemisphere``. The bootstrap resamples faces with replacement and
    re-estimates the Fréchet mean from each resample before recomputing every face's distinctiveness;
    the p-value permutes the ratings over faces (two-sided). Faces without a rating for an attribute are
    left out of that attribute's correlation (the mean uses every face).
    """
    if method not in ("pearson", "spearman"):
        raise PsychofaceError(f"unknown correlation {method!r}: use pearson or spearman")
    _check_counts(n_permutations, n_bootstrap)
    ids, names, ratings = check_ratings(Y, attributes)
    perm_ss, boot_ss = np.random.SeedSequence(seed).spawn(2)
    boot_rng = np.random.default_rng(boot_ss)
    n = len(ids)
    boot_idx = (boot_rng.random((n_bootstrap, n)) * n).astype(np.intp)
    rows = []
    for layer, X in layers.items():
        if X.shape[0] != n:
            raise PsychofaceError(
                f"layer {layer!r} has {X.shape[0]} stimuli but the ratings have {n}; align the ratings to the store"
            )
        P = span_coordinates(X, ids, layer)
        mu, _ = karcher_mean(P)
        d = geodesic_distances(P, mu)[:, 0]
        hemisphere = in_open_hemisphere(P)
        boot_d = _bootstrap_distinctiveness(P, boot_idx)  # B x n: distinctiveness of the drawn faces
        for j, attribute in enumerate(names):
            y = ratings[:, j]
            ok = ~np.isnan(y)
            r = _corr(d[ok][None], y[ok][None], method)[0]
            p = np.nan
            if n_permutations:
                null = np.concatenate([
                    _corr(np.broadcast_to(d, perms.shape), y[perms], method, mask=~np.isnan(y[perms]))
                    for perms in permutation_blocks(perm_ss, n, n_permutations)
                ])
                p = permutation_p(r, null)[()]
            low = high = np.nan
            if n_bootstrap:
                yb = y[boot_idx]
                boot = _corr(boot_d, yb, method, mask=~np.isnan(yb))
                low, high = percentile_ci(boot, ci_level)
            rows.append({
                "layer": layer, "attribute": attribute, "n": int(ok.sum()), "r": r, "ci_low": float(low),
                "ci_high": float(high), "p": float(p), "mean_distinctiveness": float(d.mean()),
                "open_hemisphere": hemisphere,
            })
    df = pd.DataFrame(rows)
    df.insert(df.columns.get_loc("p") + 1, "p_corr", correct_p(df["p"].to_numpy(), correction))
    df.attrs["psychoface"] = {
        "analysis": "distinctiveness",
        "seed": seed,
        "method": method,
        "statistic": "r",
        "distance": "geodesic distance (radians) of the unit feature vector to the Fréchet mean on the sphere",
        "n_permutations": n_permutations,
        "n_bootstrap": n_bootstrap,
        "ci_level": ci_level,
        "ci_method": "percentile bootstrap over faces, the Fréchet mean re-estimated in every resample"
        if n_bootstrap else "none",
        "p_method": "permutation of the ratings over faces, two-sided, p = (b + 1)/(N + 1)"
        if n_permutations else "none",
        "correction": correction_label(correction),
        "family": f"{len(layers)} layer{'s' * (len(layers) != 1)} x {len(names)} attribute"
        f"{'s' * (len(names) != 1)}",
        "not_in_open_hemisphere": sorted({r["layer"] for r in rows if not r["open_hemisphere"]}),
    }
    return df


def _check_counts(n_permutations, n_bootstrap):
    for label, v in (("n_permutations", n_permutations), ("n_bootstrap", n_bootstrap)):
        if int(v) != v or v < 0:
            raise PsychofaceError(f"{label} = {v!r}: must be a whole number >= 0, e.g. 1000")


def _bootstrap_distinctiveness(P, idx):
    """Distinctiveness of the drawn faces in each resample, the mean re-estimated from the resample."""
    B, n = idx.shape
    out = np.empty((B, n))
    per = max(1, _BLOCK_ELEMENTS // (n * max(P.shape[1], 1)))
    for b0 in range(0, B, per):
        block = idx[b0 : b0 + per]
        W = np.zeros((len(block), n))
        np.add.at(W, (np.repeat(np.arange(len(block)), n), block.ravel()), 1.0 / n)
        mu, _ = karcher_mean(P, W)
        d = geodesic_distances(P, mu).T  # resamples x faces
        out[b0 : b0 + per] = np.take_along_axis(d, block, axis=1)
    return out


def _corr(a, b, method, mask=None):
    """Row-wise correlation of a and b (2-D), over the entries where ``mask`` is true."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if mask is None:
        mask = np.ones(b.shape, dtype=bool)
    if mask.all():
        if method == "spearman":
            a, b = rankdata(a, axis=1), rankdata(b, axis=1)
        return _pearson_rows(a, b, np.ones_like(b))
    w = mask.astype(float)
    if method == "spearman":
        a = np.where(mask, a, np.nan)
        b = np.where(mask, b, np.nan)
        a = rankdata(a, axis=1, nan_policy="omit")
        b = rankdata(b, axis=1, nan_policy="omit")
    return _pearson_rows(np.where(mask, a, 0.0), np.where(mask, b, 0.0), w)


def _pearson_rows(a, b, w):
    n = w.sum(axis=1, keepdims=True)
    am = a - (a * w).sum(axis=1, keepdims=True) / n
    bm = b - (b * w).sum(axis=1, keepdims=True) / n
    am *= w
    bm *= w
    num = (am * bm).sum(axis=1)
    den = np.sqrt((am * am).sum(axis=1) * (bm * bm).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def group_mean_test(
    X,
    labels,
    ids,
    *,
    name: str = "layer",
    method: str = "auto",
    n_permutations: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Geodesic distance between the Fréchet means of two groups of faces, with a label-permutation p.

    ``labels``: one group label per face (two distinct values; NaN/None = left out). ``method``:
    ``"exact"`` re-estimates both Fréchet means in every permutation; ``"tangent"`` maps the faces once to
    the tangent space at the pooled Fréchet mean by the log map and permutes the labels of the tangent
    vectors (the statistic is the norm of the difference of the groups' tangent means); ``"auto"`` takes
    the exact test up to 1,000 faces. The row gives both the exact distance and its tangent
    approximation on the observed labels. p is one-sided (a larger distance is more extreme). The tangent
    test's permuted statistics (and the observed one they are compared with) are computed in float32,
    which halves the cost of its one large matrix product per block of permutations (relative error about
    1e-7, far below the spacing of permuted statistics).
    """
    if method not in ("auto", "exact", "tangent"):
        raise PsychofaceError(f"unknown group test {method!r}: use auto, exact or tangent")
    _check_counts(n_permutations, 0)
    ids = [str(i) for i in ids]
    labels = pd.Series(list(labels), dtype=object)
    if len(labels) != len(ids):
        raise PsychofaceError(f"{name}: {len(labels)} group labels for {len(ids)} stimuli; give one label per stimulus")
    keep = labels.notna().to_numpy()
    groups = list(pd.unique(labels[keep]))
    if len(groups) != 2:
        raise PsychofaceError(
            f"{name}: the grouping has {len(groups)} groups ({', '.join(map(str, groups[:5]))}); give exactly two"
        )
    is_a = (labels[keep] == groups[0]).to_numpy()
    counts = {g: int(c) for g, c in zip(groups, (is_a.sum(), (~is_a).sum()))}
    for g, c in counts.items():
        if c < MIN_GROUP:
            raise PsychofaceError(
                f"{name}: group {g!r} has {c} face{'s' * (c != 1)}; each group needs at least {MIN_GROUP}"
            )
    X = X[np.flatnonzero(keep)] if not keep.all() else X
    P = span_coordinates(X, [i for i, k in zip(ids, keep) if k], name)
    n = len(P)
    chosen = ("exact" if n <= 1000 else "tangent") if method == "auto" else method
    W_obs = _group_weights(is_a[None])
    mu, _ = karcher_mean(P, W_obs)
    exact = float(np.arccos(np.clip(mu[0] @ mu[1], -1, 1)))
    pooled, _ = karcher_mean(P)
    V = log_map(P, pooled[0])
    tangent = float(np.linalg.norm(_contrast(is_a[None]) @ V))
    if chosen == "tangent":  # permuted statistics in float32 (half the cost), the observed one the same way
        V = V.astype(np.float32)
        observed = float(np.linalg.norm(_contrast(is_a[None]).astype(np.float32) @ V))
    p = np.nan
    if n_permutations:
        null = np.empty(n_permutations)
        b0 = 0
        block = _BLOCK_ELEMENTS // (2 if chosen == "exact" else 1)
        for perms in permutation_blocks(seed, n, n_permutations, block // max(n, P.shape[1]) * n):
            perm = is_a[perms]
            m = len(perm)
            if chosen == "exact":
                mus, _ = karcher_mean(P, _group_weights(perm))
                a, b = mus[0::2], mus[1::2]
                null[b0 : b0 + m] = np.arccos(np.clip(np.einsum("ij,ij->i", a, b), -1, 1))
            else:
                null[b0 : b0 + m] = np.linalg.norm(_contrast(perm).astype(np.float32) @ V, axis=1)
            b0 += m
        p = float(permutation_p(exact if chosen == "exact" else observed, null, "greater"))
    df = pd.DataFrame([{
        "layer": name, "group_a": str(groups[0]), "group_b": str(groups[1]), "n_a": counts[groups[0]],
        "n_b": counts[groups[1]], "distance": exact, "distance_tangent": tangent, "test": chosen, "p": p,
    }])
    df.attrs["psychoface"] = {
        "analysis": "group_means",
        "seed": seed,
        "method": chosen,
        "n_permutations": n_permutations,
        "ci_level": None,
        "ci_method": "none",
        "p_method": ("permutation of the group labels, both Fréchet means re-estimated in each permutation"
                     if chosen == "exact" else
                     "permutation of the group labels of the faces' tangent vectors at the pooled Fréchet mean "
                     "(log map), statistic the norm of the difference of the tangent means")
        + ", one-sided, p = (b + 1)/(N + 1)",
        "correction": "none",
        "family": "one test",
        "open_hemisphere": in_open_hemisphere(P),
    }
    return df


def log_map(P, mu):
    """Riemannian log map of the unit rows of ``P`` at the unit vector ``mu`` (tangent vectors, n x r)."""
    c = np.clip(P @ mu, -1.0, 1.0)
    theta = np.arccos(c)
    f = np.where(theta > 1e-8, theta / np.sin(np.where(theta > 1e-8, theta, 1.0)), 1.0)
    V = np.outer(c, mu)
    np.subtract(P, V, out=V)
    V *= f[:, None]
    return V


def _group_weights(is_a):
    """Rows (a_1, b_1, a_2, b_2, ...) of averaging weights of the two groups of each labelling."""
    a = is_a / is_a.sum(axis=1, keepdims=True)
    b = ~is_a / (~is_a).sum(axis=1, keepdims=True)
    W = np.empty((2 * len(is_a), is_a.shape[1]))
    W[0::2], W[1::2] = a, b
    return W


def _contrast(is_a):
    return is_a / is_a.sum(axis=1, keepdims=True) - ~is_a / (~is_a).sum(axis=1, keepdims=True)
