"""Shape regressed on predictors: the ``procD.lm`` analogue, with residual randomisation (RRPP).

The tangent coordinates of the faces at the mean shape (n x 2k) are regressed on the predictors (ratings,
face properties; text columns are dummy-coded) by ordinary least squares, a Procrustes ANOVA / multivariate
linear model (Goodall, 1991; Collyer, Sekora & Adams, 2015). For each term:

- SS: the sum over all coordinates of the squared change in fitted values when the term is added to its
  reduced model. Type I (sequential, geomorph's default): the reduced model holds the terms before it;
  type II: every other term. R^2 = SS / total SS.
- F = (SS / df) / (RSS / df_resid), RSS from the model with every term.
- p by residual randomisation in a permutation procedure (RRPP; Freedman & Lane, 1983; Collyer et al.,
  2015): the reduced model's residuals are permuted over faces and added to its fitted values, both models
  are refitted and F recomputed; p = (b + 1)/(N + 1) with b the permuted F at least as large as observed.
- Z: the effect size of RRPP/geomorph, the standard deviate of the observed F in its permutation
  distribution, computed here on log F: Z = (ln F - mean ln F*) / SD(ln F*) over the N permuted values and
  the observed one. (RRPP 1.x standardises after a Box-Cox transformation instead, so its Z differs
  slightly.)

Every permuted statistic is computed from the orthonormal bases of the models: with Q_t spanning what term
t adds to its reduced model and Q the full model, SS_t* = ||Q_t^T P E||^2 and RSS* = ||E||^2 - ||Q^T P E||^2
for the reduced model's residuals E and the permutation P; Q^T P E of every term follows from one product
Q[perm^-1]^T Y per permutation (:func:`rrpp_nulls`), instead of two least-squares fits per term.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from psychoface.analyses.inference import correct_p, correction_label, permutation_p
from psychoface.analyses.shape.correlation import check_options, permutations
from psychoface.errors import PsychofaceError

ANALYSIS = "shape regression"
P_METHOD = ("residual randomisation (RRPP): the reduced model's residuals permuted over faces, "
            "p = (b + 1)/(N + 1)")
SS_TYPES = {"I": "type I (sequential) sums of squares", "II": "type II sums of squares"}
_CHUNK = 250


def design(predictors: pd.DataFrame) -> tuple[list[str], list[np.ndarray]]:
    """Term names and their design columns: numbers as they are, text/categories dummy-coded against the
    first level (in sorted order)."""
    names, blocks = [], []
    for col in predictors.columns:
        values = predictors[col]
        if values.isna().any():
            row = values.index[values.isna()][0]
            raise PsychofaceError(f"predictor {col!r} is missing for face {row!r}; give every face a value "
                                  "or leave the predictor out")
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            block = values.to_numpy(dtype=float)[:, None]
        else:
            levels = sorted(values.astype(str).unique())
            if len(levels) < 2:
                raise PsychofaceError(f"predictor {col!r} has a single level {levels[0]!r}; it cannot explain "
                                      "anything, leave it out")
            block = np.column_stack([(values.astype(str) == lv).to_numpy(float) for lv in levels[1:]])
        if np.ptp(block, axis=0).max() == 0:
            raise PsychofaceError(f"predictor {col!r} has the same value for every face; leave it out")
        names.append(str(col))
        blocks.append(block)
    return names, blocks


def _orth(X: np.ndarray) -> np.ndarray:
    Q, R = np.linalg.qr(X)
    keep = np.abs(np.diag(R)) > 1e-10 * max(1.0, np.abs(R).max())
    return Q[:, keep]


def _term_bases(blocks: list[np.ndarray], n: int, ss_type: str):
    """For each term: (basis of its reduced model, basis of what the term adds to it); and the full basis."""
    one = np.ones((n, 1))
    full = _orth(np.column_stack([one, *blocks]))
    out = []
    for t, block in enumerate(blocks):
        others = blocks[:t] if ss_type == "I" else blocks[:t] + blocks[t + 1:]
        Qr = _orth(np.column_stack([one, *others]))
        added = block - Qr @ (Qr.T @ block)
        Qt = _orth(added)
        if Qt.shape[1] == 0:
            raise PsychofaceError(f"predictor {t + 1} is a linear combination of the others; leave it out")
        out.append((Qr, Qt))
    return out, full


def rrpp_nulls(Y: np.ndarray, bases, Q: np.ndarray, perms: np.ndarray) -> np.ndarray:
    """(N, terms, 2) permuted (SS of the term, RSS of the full model) for every term's (reduced basis, added
    basis) in ``bases`` and the permutations ``perms`` (N, n): Y* = fitted(reduced) + E[perm] per term.

    With every basis expressed in the full basis Q (Q_r = Q R, Q_t = Q T) and A = Q[perm^-1]^T Y,
    B = Q[perm^-1]^T Q, the full model's fit to the permuted residuals is Q^T E[perm] = A - B R (Q_r^T Y):
    one (q x n)(n x d) product per permutation, shared by all terms."""
    q = Q.shape[1]
    terms = []
    for Qr, Qt in bases:
        E = Y - Qr @ (Qr.T @ Y)
        terms.append((Q.T @ Qr, Q.T @ Qt, Qr.T @ Y, float((E * E).sum())))
    out = np.empty((len(perms), len(bases), 2))
    inverse = np.argsort(perms, axis=1)
    for start in range(0, len(perms), _CHUNK):
        inv = inverse[start:start + _CHUNK]
        b = len(inv)
        Qp = Q[inv]                                                        # (b, n, q): rows of Q at perm^-1
        A = (Qp.transpose(0, 2, 1).reshape(b * q, -1) @ Y).reshape(b, q, -1)
        B = Qp.transpose(0, 2, 1) @ Q                                      # (b, q, q)
        for t, (R, T, C, ee) in enumerate(terms):
            F = A - B @ (R @ C)                                            # Q^T E[perm]: (b, q, d)
            out[start:start + b, t, 0] = ((T.T @ F) ** 2).sum(axis=(1, 2))
            out[start:start + b, t, 1] = ee - (F**2).sum(axis=(1, 2))
    return out


def rrpp_null(Y: np.ndarray, Qr: np.ndarray, Qt: np.ndarray, Q: np.ndarray, perms: np.ndarray) -> np.ndarray:
    """(N, 2) permuted (SS of the term, RSS of the full model) of one term (:func:`rrpp_nulls`)."""
    return rrpp_nulls(Y, [(Qr, Qt)], Q, perms)[:, 0]


def shape_regression(
    Y: np.ndarray,
    predictors: pd.DataFrame,
    *,
    ss_type: str = "I",
    n_permutations: int = 10_000,
    correction: str = "holm",
    seed: int = 0,
) -> pd.DataFrame:
    """Multivariate regression of tangent coordinates ``Y`` (n x d) on the columns of ``predictors`` (terms,
    in model order), with RRPP (module docstring).

    Returns one row per term: term, df, ss, ms, r2, F, Z, p, p_corr, and df_resid, rss, n (the same on
    every row). ``ss_type``: "I" (sequential) or "II".
    """
    check_options(n_permutations, 0, 0.95, correction)
    if ss_type not in SS_TYPES:
        raise PsychofaceError(f"unknown sums of squares type {ss_type!r}: use I or II")
    Y = np.asarray(Y, dtype=float)
    n = Y.shape[0]
    if len(predictors) != n:
        raise PsychofaceError(f"{len(predictors)} rows of predictors for {n} faces; give one row per face")
    names, blocks = design(predictors)
    if not names:
        raise PsychofaceError("no predictors given; name at least one rating or face property")
    bases, Q = _term_bases(blocks, n, ss_type)
    df_resid = n - Q.shape[1]
    if df_resid < 1:
        raise PsychofaceError(f"{n} faces for {Q.shape[1]} model parameters; shape regression needs more faces "
                              "than parameters: add faces or drop predictors")
    Yc = Y - Y.mean(axis=0)
    tss = float((Yc**2).sum())
    rss = float((Y**2).sum() - ((Q.T @ Y) ** 2).sum())
    rng = np.random.default_rng(seed)
    perms = permutations(rng, n_permutations, n) if n_permutations else None
    nulls = rrpp_nulls(Y, bases, Q, perms) if perms is not None else None
    rows = []
    for t, (name, (Qr, Qt)) in enumerate(zip(names, bases)):
        df_t = Qt.shape[1]
        ss = float(((Qt.T @ Y) ** 2).sum())
        f = (ss / df_t) / (rss / df_resid)
        p = z = np.nan
        if nulls is not None:
            null = nulls[:, t]
            f_null = (null[:, 0] / df_t) / (null[:, 1] / df_resid)
            p = float(permutation_p(f, f_null, alternative="greater"))
            logs = np.log(np.concatenate([[f], f_null]))
            z = float((np.log(f) - logs.mean()) / logs.std(ddof=1))
        rows.append({"term": name, "df": df_t, "ss": ss, "ms": ss / df_t, "r2": ss / tss, "F": f, "Z": z, "p": p})
    df = pd.DataFrame(rows)
    df["p_corr"] = correct_p(df["p"].to_numpy(), correction)
    df["df_resid"], df["rss"], df["n"] = df_resid, rss, n
    df.attrs["psychoface"] = {
        "analysis": ANALYSIS, "seed": seed, "ci_level": None, "ci_method": None, "p_method": P_METHOD,
        "correction": correction, "correction_label": correction_label(correction), "family": "terms",
        "n_permutations": n_permutations, "ss_type": ss_type, "ss_type_label": SS_TYPES[ss_type],
        "total_ss": tss, "effect_size": "Z: standard deviate of ln F in its RRPP distribution",
        "terms": names,
    }
    return df


def shape_change(Y: np.ndarray, predictors: pd.DataFrame, term: str) -> np.ndarray:
    """The change of the tangent coordinates per standard deviation of a numeric predictor (its coefficient
    in the model with every term, times its SD): a (d,) vector of landmark displacements."""
    names, blocks = design(predictors)
    if term not in names:
        raise PsychofaceError(f"no predictor {term!r}; use one of {', '.join(names)}")
    t = names.index(term)
    if blocks[t].shape[1] != 1:
        raise PsychofaceError(f"predictor {term!r} is categorical; its shape change is the group mean difference")
    X = np.column_stack([np.ones(len(Y)), *blocks])
    beta, *_ = np.linalg.lstsq(X, Y, rcond=None)
    col = 1 + sum(b.shape[1] for b in blocks[:t])
    return beta[col] * blocks[t][:, 0].std(ddof=1)
