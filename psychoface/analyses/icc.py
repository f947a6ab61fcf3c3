"""Intraclass correlations of ratings in crossed, nested and incomplete stimulus x rater designs.

Design. Per attribute, the stimuli and raters form a bipartite graph (a rater linked to each stimulus
they rated). Its connected components are the *blocks* of the design: in a study where each set of faces
is rated by its own raters (raters nested in stimulus sets), every set with its raters is one block.
ICCs compare stimuli within a block; stimuli of different blocks share no rater, so rater effects and
stimulus effects could not be told apart across blocks. Every block gets its own rows.

* A **complete** block (every rater rated every stimulus of the block; repeated ratings by one rater are
  averaged first) gets the six ICC forms from the two-way ANOVA mean squares, computed by
  :func:`pingouin.intraclass_corr` (Shrout & Fleiss, 1979; McGraw & Wong, 1996), with F tests and
  F-based confidence intervals.
* An **incomplete** block (raters rated different subsets) keeps every rating: the ICC forms are
  computed from the variance components of linear mixed models fitted by REML with statsmodels'
  ``MixedLM`` -- crossed random effects of stimulus and rater (ratings = mu + s + r + e) for the two-way
  forms, a random stimulus intercept (ratings = mu + s + w) for the one-way forms -- as R's
  ``psych::ICC(lmer = TRUE)`` does with lme4. With sigma2_s, sigma2_r, sigma2_e the variance components:
  ICC(C,1) = s/(s + e), ICC(A,1) = s/(s + r + e), ICC(1,1) = s1/(s1 + w); the k forms replace the error
  terms by their mean over k ratings, with k the harmonic mean number of ratings per stimulus (McGraw &
  Wong, 1996, for k; the harmonic mean for unequal numbers, as k0 in one-way designs). On a complete
  balanced block whose ANOVA estimates are positive, the REML components equal the ANOVA ones and so do
  the ICCs (tests/test_icc.py). Confidence interval: Wald on the logit of the ICC, with the standard errors
  of the log variance ratios from the curvature (numerical Hessian) of statsmodels' profile REML
  log-likelihood. In 200 simulated nested incomplete designs (2 blocks x 15 stimuli x 8 raters, 60% of
  ratings kept; tests/test_icc.py) the mean estimates were .418 for a true ICC(A,1) of .424 and .491 for a
  true ICC(C,1) of .5, and the 95% intervals covered the truth .968 and .970 of the time (slightly
  conservative). No p value is given for these rows.

Blocks with fewer than 3 stimuli or 2 raters cannot give an ICC; their stimuli and raters are counted
as dropped on every row of the attribute, as are blocks too large for the dense mixed-model fit
(:data:`MAX_VC_EFFECTS` random effects).

References: Shrout & Fleiss (1979), Psychological Bulletin, 86, 420-428; McGraw & Wong (1996),
Psychological Methods, 1, 30-46; Bates, Maechler, Bolker & Walker (2015), Journal of Statistical
Software, 67(1) (lme4); Revelle (2024), psych: ICC with lmer = TRUE.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.stats import norm

from psychoface.errors import PsychofaceError

MIN_STIMULI = 3
MAX_VC_EFFECTS = 600
"""Largest number of stimuli + raters in an incomplete block for the (dense) crossed mixed-model fit."""

# Shrout & Fleiss (1979) name -> (McGraw & Wong (1996) name as in pingouin >= 0.7, description).
ICC_FORMS = {
    "ICC1": ("ICC(1,1)", "one-way random effects, single rating"),
    "ICC2": ("ICC(A,1)", "two-way random effects, absolute agreement, single rating"),
    "ICC3": ("ICC(C,1)", "two-way mixed effects, consistency, single rating"),
    "ICC1k": ("ICC(1,k)", "one-way random effects, mean of k ratings"),
    "ICC2k": ("ICC(A,k)", "two-way random effects, absolute agreement, mean of k ratings"),
    "ICC3k": ("ICC(C,k)", "two-way mixed effects, consistency, mean of k ratings"),
}
ANOVA_METHOD = "two-way ANOVA mean squares (pingouin.intraclass_corr), complete block"
VC_METHOD = "variance components of crossed random effects (REML, statsmodels MixedLM), incomplete block"
COLUMNS = ["attribute", "block", "type", "type_mw", "description", "icc", "F", "df1", "df2", "p", "ci_low",
           "ci_high", "n", "k", "ratings", "k_harmonic", "design", "stimuli_dropped", "raters_dropped",
           "repeats_averaged", "method", "note"]


def design_blocks(cells: pd.DataFrame) -> list[tuple[list[str], list[str]]]:
    """Connected blocks of a stimulus x rater design: ``cells`` has columns ``stimulus`` and ``rater``
    (one row per rated pair); returns (stimuli, raters) per block, largest block (by ratings) first."""
    s_codes, stimuli = pd.factorize(cells["stimulus"], sort=False)
    r_codes, raters = pd.factorize(cells["rater"], sort=False)
    n_s, n_r = len(stimuli), len(raters)
    graph = sparse.coo_matrix((np.ones(len(cells)), (s_codes, n_s + r_codes)), shape=(n_s + n_r,) * 2)
    _, label = connected_components(graph, directed=False)
    size = np.bincount(label[s_codes])
    order = sorted(np.unique(label), key=lambda b: (-size[b] if b < size.size else 0, b))
    return [
        ([str(s) for s in stimuli[label[:n_s] == b]], [str(r) for r in raters[label[n_s:] == b]])
        for b in order
    ]


def icc(trials, *, attributes=None, forms=None, ci_level: float = 0.95) -> pd.DataFrame:
    """Intraclass correlations of each attribute's ratings, one row per design block and form.

    Parameters
    ----------
    trials : DataFrame or Ratings
        Long table with ``stimulus``, ``attribute``, ``rating`` and ``rater``.
    attributes : list of str, optional
        Attributes to analyse (default: all).
    forms : list of str, optional
        Shrout & Fleiss names among ``ICC1, ICC2, ICC3, ICC1k, ICC2k, ICC3k`` (default: all six).
    ci_level : float
        Level of the confidence intervals of the variance-component rows (pingouin's are 95%).

    Returns
    -------
    DataFrame (:data:`COLUMNS`): ``block`` (1 = the block with most ratings), ``n`` stimuli and ``k``
    raters in the block, ``ratings`` in it, ``k_harmonic`` (harmonic mean ratings per stimulus, the k of
    the k forms), ``design`` (complete / incomplete), ``stimuli_dropped`` and ``raters_dropped`` (of the
    attribute, in blocks too small or too large for an ICC), ``method`` and ``note``.
    See the module docstring for the methods and references.
    """
    from psychoface.analyses.reliability import _select_attributes, _trial_table

    table, source = _trial_table(trials, need_rater=True)
    attributes = _select_attributes(table, attributes, source)
    forms = list(ICC_FORMS) if forms is None else ([forms] if isinstance(forms, str) else list(forms))
    unknown = [f for f in forms if f not in ICC_FORMS]
    if unknown or not forms:
        raise PsychofaceError(
            f"unknown ICC form(s) {', '.join(map(repr, unknown)) or '(none given)'}; use any of "
            f"{', '.join(ICC_FORMS)}"
        )
    if not 0 < ci_level < 1:
        raise PsychofaceError(f"ci_level = {ci_level} must lie between 0 and 1, e.g. 0.95")
    groups = dict(tuple(table.groupby("attribute", sort=False)))
    parts = [_icc_attribute(groups[a], a, forms, ci_level, source) for a in attributes]
    df = pd.concat(parts, ignore_index=True)
    blocks = df.groupby("attribute", sort=False)["block"].nunique()
    df.attrs["psychoface"] = {
        "analysis": "icc",
        "method": "intraclass correlations (Shrout & Fleiss, 1979; McGraw & Wong, 1996) per connected block "
        "of the stimulus x rater design: from two-way ANOVA mean squares (pingouin) in complete blocks, from "
        "the variance components of crossed random effects (REML, statsmodels MixedLM) in incomplete blocks",
        "seed": None,
        "forms": forms,
        "ci_level": ci_level,
        "ci_method": "F distribution (McGraw & Wong, 1996) in complete blocks (95%); Wald interval on the "
        "logit of the ICC from the profile REML likelihood in incomplete blocks",
        "p_method": "F test of ICC = 0 (complete blocks only)",
        "correction": "none",
        "family": None,
        "design": "raters nested in blocks of stimuli" if (blocks > 1).any() else "one block of stimuli and raters",
        "blocks": {str(a): int(b) for a, b in blocks.items()},
        "incomplete_design": "variance components of crossed random effects (no ratings deleted); k forms at "
        "the harmonic mean number of ratings per stimulus",
        "repeats": "repeated ratings of a stimulus by one rater averaged",
        "attributes": attributes,
        "max_vc_effects": MAX_VC_EFFECTS,
    }
    return df


def _icc_attribute(sub: pd.DataFrame, attribute: str, forms, ci_level, source) -> pd.DataFrame:
    cells = sub.groupby(["stimulus", "rater"], sort=False)["rating"].agg(["mean", "size"]).reset_index()
    repeats = int((cells["size"] - 1).sum())
    blocks = design_blocks(cells)
    usable, dropped_s, dropped_r, notes = [], 0, 0, []
    for stimuli, raters in blocks:
        n, k = len(stimuli), len(raters)
        complete = len(cells[cells["stimulus"].isin(stimuli)]) == n * k
        if n < MIN_STIMULI or k < 2:
            dropped_s, dropped_r = dropped_s + n, dropped_r + k
        elif not complete and n + k > MAX_VC_EFFECTS:
            dropped_s, dropped_r = dropped_s + n, dropped_r + k
            notes.append(f"a block of {n} stimuli and {k} raters with missing ratings is too large for the "
                         f"mixed-model fit (over {MAX_VC_EFFECTS} random effects) and was left out")
        else:
            usable.append((stimuli, raters, complete))
    if not usable:
        n_max, k_max = max((len(s), len(r)) for s, r in blocks)
        raise PsychofaceError(
            f"{source}: attribute {attribute!r}: no block of the stimulus x rater design has >= {MIN_STIMULI} "
            f"stimuli and >= 2 raters linked by their ratings (largest: {n_max} stimuli, {k_max} raters); "
            f"ICCs need stimuli rated by overlapping raters: leave the attribute out or report split-half "
            f"reliability only"
        )
    out = []
    for b, (stimuli, raters, complete) in enumerate(usable, start=1):
        block = cells[cells["stimulus"].isin(set(stimuli))]
        base = {
            "attribute": attribute, "block": b, "n": len(stimuli), "k": len(raters), "ratings": len(block),
            "design": "complete" if complete else "incomplete", "stimuli_dropped": dropped_s,
            "raters_dropped": dropped_r, "repeats_averaged": repeats,
            "method": ANOVA_METHOD if complete else VC_METHOD,
        }
        per_stim = block.groupby("stimulus").size().to_numpy()
        base["k_harmonic"] = float(len(per_stim) / np.sum(1.0 / per_stim))
        values = block["mean"].to_numpy()
        if np.ptp(values) == 0:
            rows = [_row(base, form, note=f"constant ratings (every rating is {values[0]:g}): ICC undefined")
                    for form in forms]
        elif complete:
            rows = _anova_rows(block, base, forms)
        else:
            rows = _vc_rows(block, base, forms, ci_level)
        for row in rows:
            row["note"] = "; ".join([x for x in [row["note"], *notes] if x])
        out += rows
    return pd.DataFrame(out, columns=COLUMNS)


def _row(base, form, **values):
    row = {**base, "type": form, "type_mw": ICC_FORMS[form][0], "description": ICC_FORMS[form][1],
           "icc": np.nan, "F": np.nan, "df1": np.nan, "df2": np.nan, "p": np.nan, "ci_low": np.nan,
           "ci_high": np.nan, "note": ""}
    row.update(values)
    return row


def _anova_rows(block: pd.DataFrame, base: dict, forms) -> list[dict]:
    import pingouin

    long = block.rename(columns={"mean": "rating"})[["stimulus", "rater", "rating"]]
    with warnings.catch_warnings():
        # pingouin's own pandas calls raise deprecation warnings under pandas 3 that users cannot act on
        warnings.filterwarnings("ignore", message="The inplace keyword")
        res = pingouin.intraclass_corr(data=long, targets="stimulus", raters="rater", ratings="rating")
    ci_col = next(c for c in res.columns if str(c).startswith("CI95"))
    p_col = "pval" if "pval" in res.columns else "p_val"
    # rows are matched by pingouin's Type column: McGraw & Wong names (pingouin >= 0.7, "ICC(A,1)") or
    # Shrout & Fleiss names (older versions, "ICC2"); never by position
    by_type = {str(rec["Type"]): rec for rec in res.to_dict("records")}
    rows = []
    for form in forms:
        rec = by_type.get(ICC_FORMS[form][0], by_type.get(form))
        if rec is None:
            raise PsychofaceError(
                f"pingouin {pingouin.__version__}: intraclass_corr returned no row of Type "
                f"{ICC_FORMS[form][0]!r} or {form!r} (Types: {', '.join(by_type)}); install pingouin >= 0.7"
            )
        low, high = np.asarray(rec[ci_col], dtype=float)
        rows.append(_row(base, form, icc=float(rec["ICC"]), F=float(rec["F"]), df1=int(rec["df1"]),
                         df2=int(rec["df2"]), p=float(rec[p_col]), ci_low=float(low), ci_high=float(high)))
    return rows


# -------------------------------------------------------------------------------- variance components


def variance_components(stimulus, rater, rating) -> dict:
    """REML variance components of ratings = mu + stimulus + rater + error (crossed random effects) and of
    ratings = mu + stimulus + within (one-way), by statsmodels ``MixedLM``; with the standard errors of the
    log variance ratios from the profile log-likelihood.

    Returns ``gamma_s``, ``gamma_r`` (stimulus and rater variance over error variance), ``cov_two``
    (covariance of their logs; NaN where a ratio is on the boundary 0), ``scale`` (error variance),
    ``gamma_1``, ``var_1`` (one-way ratio and the variance of its log), ``converged`` and ``warnings``.
    """
    from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams, VCSpec

    s_codes, stimuli = pd.factorize(pd.Series(stimulus), sort=False)
    r_codes, raters = pd.factorize(pd.Series(rater), sort=False)
    y = np.asarray(rating, dtype=float)
    n = y.size
    design_s = np.zeros((n, len(stimuli)))
    design_s[np.arange(n), s_codes] = 1.0
    design_r = np.zeros((n, len(raters)))
    design_r[np.arange(n), r_codes] = 1.0
    spec = VCSpec(["stimulus", "rater"], [[list(map(str, stimuli))], [list(map(str, raters))]],
                  [[design_s], [design_r]])
    caught = []
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        two = MixedLM(y, np.ones((n, 1)), groups=np.zeros(n), exog_vc=spec)
        fit2 = two.fit(reml=True)
        one = MixedLM(y, np.ones((n, 1)), groups=s_codes)
        fit1 = one.fit(reml=True)
        caught = sorted({str(w.message).split("\n")[0] for w in record})
    order = list(two.exog_vc.names)
    gamma = np.array([fit2.vcomp[order.index("stimulus")], fit2.vcomp[order.index("rater")]]) / fit2.scale
    fe = np.asarray(fit2.fe_params)

    def loglike2(theta):
        vc = np.empty(2)
        vc[order.index("stimulus")], vc[order.index("rater")] = np.exp(theta)
        return two.loglike(MixedLMParams.from_components(fe, cov_re=np.zeros((0, 0)), vcomp=vc), profile_fe=True)

    gamma_1 = float(np.asarray(fit1.cov_re)[0, 0] / fit1.scale)

    def loglike1(theta):
        return one.loglike(MixedLMParams.from_components(np.asarray(fit1.fe_params), cov_re=np.exp(theta).reshape(1, 1)),
                           profile_fe=True)

    free = gamma > 1e-6
    cov_two = np.full((2, 2), np.nan)
    if free.any():  # a ratio on the boundary 0 is held there: its uncertainty is not propagated
        idx = np.flatnonzero(free)
        theta0 = np.log(np.where(free, gamma, 1e-6))

        def sub(t):
            th = theta0.copy()
            th[idx] = t
            return loglike2(th)

        cov_two = np.zeros((2, 2))
        cov_two[np.ix_(idx, idx)] = _inverse_neg_hessian(sub, theta0[idx])
    var_1 = float(_inverse_neg_hessian(loglike1, np.log([max(gamma_1, 1e-6)]))[0, 0]) if gamma_1 > 1e-6 else np.nan
    return {
        "gamma_s": float(gamma[0]), "gamma_r": float(gamma[1]), "cov_two": cov_two, "scale": float(fit2.scale),
        "gamma_1": gamma_1, "var_1": var_1, "converged": bool(fit2.converged and fit1.converged),
        "warnings": caught,
    }


def _inverse_neg_hessian(f, x0, step: float = 1e-3) -> np.ndarray:
    """Inverse of minus the central-difference Hessian of ``f`` at ``x0`` (NaN when not positive definite)."""
    x0 = np.asarray(x0, dtype=float)
    m = x0.size
    h = np.empty((m, m))
    f0 = f(x0)
    for i in range(m):
        for j in range(i, m):
            ei, ej = np.eye(m)[i] * step, np.eye(m)[j] * step
            if i == j:
                h[i, i] = (f(x0 + ei) - 2 * f0 + f(x0 - ei)) / step**2
            else:
                h[i, j] = h[j, i] = (f(x0 + ei + ej) - f(x0 + ei - ej) - f(x0 - ei + ej) + f(x0 - ei - ej)) / (4 * step**2)
    try:
        cov = np.linalg.inv(-h)
    except np.linalg.LinAlgError:
        return np.full((m, m), np.nan)
    return cov if np.all(np.linalg.eigvalsh(cov) > 0) else np.full((m, m), np.nan)


def vc_icc(components: dict, k: float, ci_level: float) -> dict[str, tuple[float, float, float]]:
    """Every ICC form (estimate, CI low, CI high) from :func:`variance_components` at k ratings per stimulus.

    logit ICC is log gamma_s - log(d) with d = 1, 1 + gamma_r and their means over k ratings; its Wald
    interval uses the covariance of (log gamma_s, log gamma_r).
    """
    gs, gr, cov = components["gamma_s"], components["gamma_r"], components["cov_two"]
    z = norm.ppf(0.5 + ci_level / 2)
    out = {}
    two = {"ICC3": (1.0, 0.0), "ICC2": (1.0 + gr, 1.0), "ICC3k": (1.0 / k, 0.0), "ICC2k": ((1.0 + gr) / k, 1.0 / k)}
    for form, (d, dgr) in two.items():
        value = gs / (gs + d)
        grad = np.array([1.0, -dgr * gr / d])  # d logit / d (log gs, log gr)
        var = float(grad @ cov @ grad)
        out[form] = (value, *_logit_interval(value, var, z))
    g1, v1 = components["gamma_1"], components["var_1"]
    for form, d in (("ICC1", 1.0), ("ICC1k", 1.0 / k)):
        value = g1 / (g1 + d)
        out[form] = (value, *_logit_interval(value, v1, z))
    return out


def _logit_interval(value: float, var: float, z: float) -> tuple[float, float]:
    if not (0 < value < 1) or not np.isfinite(var) or var < 0:
        return np.nan, np.nan
    logit = np.log(value / (1 - value))
    half = z * np.sqrt(var)
    return float(1 / (1 + np.exp(-(logit - half)))), float(1 / (1 + np.exp(-(logit + half))))


def _vc_rows(block: pd.DataFrame, base: dict, forms, ci_level) -> list[dict]:
    comp = variance_components(block["stimulus"], block["rater"], block["mean"])
    values = vc_icc(comp, base["k_harmonic"], ci_level)
    notes = []
    if not comp["converged"]:
        notes.append("the mixed-model fit did not converge; read the ICCs with caution")
    if comp["gamma_s"] <= 1e-6:
        notes.append("stimulus variance estimated at 0: no reliable differences between stimuli")
    elif comp["gamma_r"] <= 1e-6:
        notes.append("rater variance estimated at 0 (on the boundary); its uncertainty is not in the CIs")
    return [_row(base, form, icc=values[form][0], ci_low=values[form][1], ci_high=values[form][2],
                 note="; ".join(notes)) for form in forms]
