"""Beyond the humans: does a network's output depend on a property more (or less) than the human ratings
it is compared with?

For an output ``o`` (e.g. a readout's out-of-fold predicted rating of an attribute), the human mean rating
``h`` of that attribute and a property ``x`` (continuous: one column; categorical: treatment-coded
dummies, q = levels - 1 columns), over the faces where all three are known:

- The reduced model ``o ~ 1 + h`` and the full model ``o ~ 1 + h + x``. ``delta_r2`` = (SS_res reduced -
  SS_res full) / SS_total, the F statistic of the q added columns, and the partial correlation of ``o``
  and ``x`` given ``h`` (q = 1: signed; q > 1: the partial multiple correlation).
- p by the Freedman & Lane (1983) permutation test: the reduced model's residuals are permuted, added to
  its fitted values, and the full model is refitted; the statistic is F (pivotal; Anderson & Robinson,
  2001; Winkler et al., 2014); p = (b + 1) / (N + 1). The same permutations serve every output and
  property (the tests of a family are dependent, which Holm and BH tolerate).
- Beside it, the dependence of the network's output and of the humans' ratings on the property: Pearson r
  (continuous or two-level property; the point-biserial r for two levels, second level minus first) or
  eta (more levels), and their difference ``r_diff = r_network - r_humans`` with a percentile bootstrap CI
  over faces.
- Optionally causal-learn's kernel conditional-independence test (KCI; Zhang et al., 2011) of ``o``
  independent of ``x`` given ``h``, with its gamma approximation: a non-linear check, reported as possibly
  liberal (its type I error is measured in tests/test_properties_simulation.py).

The linear test assumes ``o`` depends on ``h`` linearly: an output that is a non-linear function of the
rating alone can be flagged for properties correlated with the rating. And ``h`` is a noisy mean: a readout
that tracks the true (noise-free) impression better than the mean of a few raters is flagged for the
properties that drive the impression; the rating's reliability bounds how much of that is expected.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from psychoface.analyses.inference import correct_p, correction_label, percentile_ci, permutation_p, resample_counts
from psychoface.analyses.properties.association import share_significant
from psychoface.errors import PsychofaceError

_BLOCK = 2**22  # permutation x face entries handled at once


def _property_columns(x: pd.Series, kind: str) -> np.ndarray:
    if kind == "continuous":
        return x.to_numpy(float)[:, None]
    levels = sorted(x.unique(), key=str)
    return np.column_stack([(x == lev).to_numpy(float) for lev in levels[1:]])


def _orth(A):
    q, r = np.linalg.qr(A)
    keep = np.abs(np.diag(r)) > 1e-10 * max(1.0, np.abs(r).max())
    return q[:, keep]


def freedman_lane(o, h, X, perms, inverse=None):
    """Observed and permuted F statistics of ``X`` added to ``o ~ 1 + h`` (Freedman-Lane).

    ``o``: (n, m) outputs sharing ``h``; ``X``: (n, q) property columns; ``perms``: (N, n) permutations
    (``inverse``: their inverses, computed when not given). Returns (F (m,), F_null (N, m), delta_ss (m,),
    ss_res_reduced (m,), q).
    """
    n = len(h)
    U = _orth(np.column_stack([np.ones(n), h]))  # reduced design
    E = o - U @ (U.T @ o)  # reduced residuals (n, m)
    Xr = X - U @ (U.T @ X)
    Q = _orth(Xr)
    q = Q.shape[1]
    if q == 0:
        raise PsychofaceError("property is a linear function of the human rating; leave it out")
    df2 = n - U.shape[1] - q
    if df2 < 1:
        raise PsychofaceError(f"{n} faces are too few for a property with {q} columns; use more faces")
    ss_e = (E * E).sum(axis=0)
    delta = ((Q.T @ E) ** 2).sum(axis=0)
    F = (delta / q) / ((ss_e - delta) / df2)
    N = len(perms)
    if inverse is None:
        inverse = np.argsort(perms, axis=1)
    # o* = fitted + E[perm] has reduced residual M_U E[perm]; its projections on U and Q are
    # sum_i A[i] E[perm[i]] = sum_j A[inverse[j]] E[j], one matrix product per block of permutations
    A = np.column_stack([U, Q]).T  # (r, n)
    k = U.shape[1]
    F_null = np.empty((N, E.shape[1]))
    step = max(1, _BLOCK // (n * A.shape[0]))
    for b0 in range(0, N, step):
        inv = inverse[b0 : b0 + step]
        proj = (A[:, inv].reshape(-1, n) @ E).reshape(A.shape[0], len(inv), -1)  # (r, b, m)
        ss_red = ss_e[None, :] - (proj[:k] ** 2).sum(axis=0)
        d = (proj[k:] ** 2).sum(axis=0)
        F_null[b0 : b0 + step] = (d / q) / ((ss_red - d) / df2)
    return F, F_null, delta, ss_e, q


def _dependence(V, X, W=None):
    """Pearson r of each column of ``V`` (n, m) with the single column of ``X`` (or eta with a categorical
    ``X`` of several dummy columns): (B, m) for resampling weights ``W`` (B, n), or (1, m) once. All
    resampled moments come from one matrix product."""
    if W is None:
        W = np.ones((1, len(V)))
    m = V.shape[1]
    N = W.sum(axis=1)[:, None]
    if X.shape[1] == 1:
        x = X[:, :1]
        M = W @ np.hstack([V, V * V, V * x, x, x * x]) / N
        mv, vv, vx, mx, xx = M[:, :m], M[:, m : 2 * m], M[:, 2 * m : 3 * m], M[:, 3 * m :][:, :1], M[:, -1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            return (vx - mv * mx) / np.sqrt((vv - mv * mv) * (xx - mx * mx))
    G = np.column_stack([1.0 - X.sum(axis=1), X])  # one-hot including the reference level
    k = G.shape[1]
    M = W @ np.hstack([V, V * V, G, (G[:, :, None] * V[:, None, :]).reshape(len(V), -1)])
    mv, vv = M[:, :m] / N, M[:, m : 2 * m] / N
    ng = M[:, 2 * m : 2 * m + k][:, :, None]
    sg = M[:, 2 * m + k :].reshape(len(W), k, m)
    with np.errstate(invalid="ignore", divide="ignore"):
        between = np.nansum(sg * sg / np.where(ng > 0, ng, np.nan), axis=1) / N - mv * mv
        return np.sqrt(np.clip(between / (vv - mv * mv), 0.0, None))


def beyond_humans(
    outputs: pd.DataFrame,
    humans: pd.DataFrame,
    output_attribute: dict[str, str],
    properties: pd.DataFrame,
    types: dict[str, str],
    *,
    n_permutations: int = 10_000,
    n_bootstrap: int = 5_000,
    ci_level: float = 0.95,
    correction: str = "holm",
    family: str = "outputs x properties",
    kci: bool = False,
    seed: int = 0,
) -> pd.DataFrame:
    """The test of each output against each property given its attribute's human rating.

    ``outputs``: one column per output (index stimulus); ``humans``: mean ratings, one column per
    attribute; ``output_attribute``: output -> the attribute whose rating it is judged against.
    Returns one row per output and property: ``output, attribute, property, type, n, partial_r, delta_r2,
    F, df1, df2, p, r_network, r_humans, r_diff, ci_low, ci_high`` (CI of ``r_diff``), ``kci_p`` with
    ``kci``, and ``p_corr`` (``kci_p_corr``) across the table.
    """
    correction_name = correction_label(correction)
    if n_permutations < 1:
        raise PsychofaceError("n_permutations must be at least 1 for the Freedman-Lane test")
    ids = properties.index
    outputs, humans = outputs.reindex(ids), humans.reindex(ids)
    missing = [o for o in outputs.columns if output_attribute.get(o) not in humans.columns]
    if missing:
        raise PsychofaceError(f"output {missing[0]!r} has no human rating to be judged against; name its attribute")
    perm_rng, boot_rng = np.random.default_rng(seed).spawn(2)
    n_all = len(ids)
    base_perms = perm_rng.permuted(np.tile(np.arange(n_all), (n_permutations, 1)), axis=1)
    base_inverse = np.argsort(base_perms, axis=1)
    W_all = resample_counts(boot_rng, n_bootstrap, n_all) if n_bootstrap else None
    rows = []
    by_attr: dict[str, list[str]] = {}
    for out in outputs.columns:
        by_attr.setdefault(output_attribute[out], []).append(out)
    for attr, outs in by_attr.items():
        for prop in properties.columns:
            ok = (outputs[outs].notna().all(axis=1) & humans[attr].notna() & properties[prop].notna()).to_numpy()
            n = int(ok.sum())
            o = outputs.loc[ok, outs].to_numpy(float)
            h = humans.loc[ok, attr].to_numpy(float)
            X = _property_columns(properties.loc[ok, prop], types[prop])
            if ok.all():
                F, F_null, delta, ss_e, q = freedman_lane(o, h, X, base_perms, base_inverse)
            else:
                F, F_null, delta, ss_e, q = freedman_lane(o, h, X, _restrict(base_perms, ok))
            ss_tot = ((o - o.mean(axis=0)) ** 2).sum(axis=0)
            p = permutation_p(F, F_null, alternative="greater")
            V = np.column_stack([h, o])
            dep = _dependence(V, X)[0]
            if W_all is not None:
                boot = _dependence(V, X, W_all if ok.all() else W_all[:, ok])
                boot_diff = boot[:, 1:] - boot[:, :1]
            r_h = float(dep[0])
            for j, out in enumerate(outs):
                r_o = float(dep[1 + j])
                partial = np.sqrt(delta[j] / ss_e[j])
                if q == 1:
                    xr = X[:, 0] - np.polyval(np.polyfit(h, X[:, 0], 1), h)
                    er = o[:, j] - np.polyval(np.polyfit(h, o[:, j], 1), h)
                    partial *= np.sign(xr @ er)
                row = {"output": out, "attribute": attr, "property": prop, "type": types[prop], "n": n,
                       "partial_r": float(partial), "delta_r2": float(delta[j] / ss_tot[j]),
                       "F": float(F[j]), "df1": q, "df2": n - 2 - q, "p": float(p[j]),
                       "r_network": r_o, "r_humans": r_h, "r_diff": r_o - r_h}
                if W_all is not None:
                    row["ci_low"], row["ci_high"] = (float(v) for v in percentile_ci(boot_diff[:, j], ci_level))
                else:
                    row["ci_low"] = row["ci_high"] = np.nan
                if kci:
                    row["kci_p"] = kci_test(o[:, j], X, h)
                rows.append(row)
    df = pd.DataFrame(rows)
    df["p_corr"] = correct_p(df["p"].to_numpy(), correction)
    if kci:
        df["kci_p_corr"] = correct_p(df["kci_p"].to_numpy(), correction)
    df.attrs["psychoface"] = {
        "analysis": "property_beyond_humans",
        "seed": seed,
        "ci_level": ci_level,
        "ci_method": "percentile bootstrap over faces of the difference between the network's and the "
        "humans' correlation with the property" if n_bootstrap else "none",
        "p_method": "Freedman-Lane permutation test of the F statistic of the property added to the "
        "output ~ human rating model",
        "correction": correction_name,
        "family": family,
        "n_permutations": n_permutations,
        "n_bootstrap": n_bootstrap,
        "kci": "kernel conditional-independence test (causal-learn KCI, gamma approximation), possibly liberal"
        if kci else "not run",
        "share_significant": share_significant(df["p_corr"]),
    }
    return df


def _restrict(perms, ok):
    """Permutations of the faces in ``ok``: each full permutation's order restricted to those faces."""
    if ok.all():
        return perms
    local = np.full(len(ok), -1)
    local[ok] = np.arange(ok.sum())
    mapped = local[perms]
    return mapped[mapped >= 0].reshape(len(perms), -1)


def kci_test(o, X, h) -> float:
    """p of causal-learn's KCI test of ``o`` independent of ``X`` given ``h`` (Gaussian kernels, empirical
    widths, gamma approximation)."""
    try:
        from causallearn.utils.KCI.KCI import KCI_CInd
    except ImportError:
        raise PsychofaceError("the KCI check needs causal-learn: pip install 'psychoface[kci]'") from None
    p, _ = KCI_CInd().compute_pvalue(np.reshape(o, (-1, 1)), np.reshape(X, (len(o), -1)), np.reshape(h, (-1, 1)))
    return float(p)
