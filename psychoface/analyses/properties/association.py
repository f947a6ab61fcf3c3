"""Each output against each property: Spearman or partial Spearman correlations, group tests, and OLS with
HC3 standard errors for several properties together.

- Continuous property: Spearman's rho (partial rho given ``covariates``: the Pearson correlation of the
  rank residuals, as pingouin's ``partial_corr(method="spearman")``); p from the t distribution with
  n - 2 - k df (k covariates); CI by Fisher's z with SE 1 / sqrt(n - 3 - k).
- Categorical property with two levels: Welch's t test; Hedges' g (pooled SD, small-sample correction J)
  with the CI of Hedges & Olkin (1985), g +- t(n - 2) SE, as pingouin's ``compute_esci``.
- Categorical property with more levels: one-way ANOVA F test; eta^2 = SS_between / SS_total with a
  percentile bootstrap CI over faces.
- :func:`ols_hc3`: all properties together in one least-squares model per output (categorical properties
  as treatment-coded dummies), heteroscedasticity-consistent HC3 SEs (MacKinnon & White, 1985; Long &
  Ervin, 2000), normal-theory p and CI as statsmodels' ``cov_type="HC3"``.

Every table's p values are corrected across its rows (outputs x properties) with ``correction``; the share
of significant tests is in ``attrs["psychoface"]["share_significant"]`` (as Büchner et al., 2024, report
the share of significant output changes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from psychoface.analyses.inference import correct_p, correction_label, percentile_ci, resample_counts
from psychoface.errors import PsychofaceError


def _ranks(a):
    return stats.rankdata(a, axis=0)


def _residualise(y, Z):
    """Residuals of the columns of ``y`` on ``Z`` (which includes an intercept column)."""
    beta, *_ = np.linalg.lstsq(Z, y, rcond=None)
    return y - Z @ beta


def spearman(o, x, covariates=None, ci_level=0.95) -> dict:
    """Spearman (partial, given ``covariates``: an (n, k) array or None) rho with t-test p and Fisher-z CI."""
    o, x = np.asarray(o, float), np.asarray(x, float)
    n = len(o)
    k = 0 if covariates is None else np.asarray(covariates).reshape(n, -1).shape[1]
    ro, rx = _ranks(o), _ranks(x)
    if k:
        Z = np.column_stack([np.ones(n), _ranks(np.asarray(covariates, float).reshape(n, -1))])
        ro, rx = _residualise(ro, Z), _residualise(rx, Z)
    return _rho_stats(float(np.corrcoef(ro, rx)[0, 1]), n, k, ci_level)


def _rho_stats(rho, n, k, ci_level):
    """t-test p and Fisher-z CI of a (partial) correlation with ``k`` covariates."""
    dof = n - 2 - k
    t = rho * np.sqrt(dof / max(1e-300, 1 - rho * rho))
    p = float(2 * stats.t.sf(abs(t), dof))
    z, se = np.arctanh(rho), 1.0 / np.sqrt(n - 3 - k)
    crit = stats.norm.ppf(0.5 + ci_level / 2)
    return {"n": n, "estimate": rho, "ci_low": float(np.tanh(z - crit * se)), "ci_high": float(np.tanh(z + crit * se)),
            "statistic": float(t), "df": float(dof), "p": p}


def hedges_g(o, groups, ci_level=0.95) -> dict:
    """Welch t test and Hedges' g (second level minus first, in sorted order) with Hedges & Olkin's CI."""
    levels = sorted(pd.unique(groups))
    a, b = (np.asarray(o, float)[groups == lev] for lev in levels)
    n1, n2 = len(a), len(b)
    sp = np.sqrt(((n1 - 1) * a.var(ddof=1) + (n2 - 1) * b.var(ddof=1)) / (n1 + n2 - 2))
    d = (b.mean() - a.mean()) / sp
    g = d * (1 - 3 / (4 * (n1 + n2) - 9))
    se = np.sqrt((n1 + n2) / (n1 * n2) + g * g / (2 * (n1 + n2)))
    crit = stats.t.ppf(0.5 + ci_level / 2, n1 + n2 - 2)
    res = stats.ttest_ind(b, a, equal_var=False)
    return {"n": n1 + n2, "estimate": float(g), "ci_low": float(g - crit * se), "ci_high": float(g + crit * se),
            "statistic": float(res.statistic), "df": float(res.df), "p": float(res.pvalue),
            "contrast": f"{levels[1]} vs {levels[0]}"}


def _eta2(o, codes, k, weights=None):
    """eta^2 of ``o`` by group codes 0..k-1; ``weights`` (B, n) resampling counts give B replicates."""
    if weights is None:
        weights = np.ones((1, len(o)))
    onehot = np.eye(k)[codes]
    ng = weights @ onehot
    sg = weights @ (onehot * o[:, None])
    N, S, SS = weights.sum(axis=1), weights @ o, weights @ (o * o)
    with np.errstate(invalid="ignore", divide="ignore"):
        between = np.nansum(sg * sg / np.where(ng > 0, ng, np.nan), axis=1) - S * S / N
        total = SS - S * S / N
        return between / total


def anova_eta2(o, groups, *, ci_level=0.95, n_bootstrap=2000, rng=None) -> dict:
    """One-way ANOVA F test and eta^2 with a percentile bootstrap CI over faces."""
    o = np.asarray(o, float)
    levels, codes = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    k, n = len(levels), len(o)
    res = stats.f_oneway(*(o[codes == j] for j in range(k)))
    eta2 = float(_eta2(o, codes, k)[0])
    lo = hi = np.nan
    if n_bootstrap:
        rng = rng if rng is not None else np.random.default_rng(0)
        W = resample_counts(rng, n_bootstrap, n)
        lo, hi = (float(v) for v in percentile_ci(_eta2(o, codes, k, W), ci_level))
    return {"n": n, "estimate": eta2, "ci_low": lo, "ci_high": hi, "statistic": float(res.statistic),
            "df": float(k - 1), "df2": float(n - k), "p": float(res.pvalue)}


def associate(
    outputs: pd.DataFrame,
    properties: pd.DataFrame,
    types: dict[str, str],
    *,
    covariates=(),
    ci_level: float = 0.95,
    n_bootstrap: int = 2000,
    correction: str = "holm",
    family: str = "outputs x properties",
    seed: int = 0,
) -> pd.DataFrame:
    """Every output (column of ``outputs``) against every property (column of ``properties``, typed in
    ``types``); ``covariates``: continuous property columns partialled out of the Spearman tests (and
    not tested themselves). Faces with a missing value in the pair (or a covariate) are left out.
    """
    correction_name = correction_label(correction)
    rng = np.random.default_rng(seed)
    covariates = list(covariates)
    for c in covariates:
        if types.get(c) != "continuous":
            raise PsychofaceError(f"covariate {c!r} is not a continuous property; use a numeric property")
    outputs = outputs.reindex(properties.index)
    O = outputs.to_numpy(float)
    o_ok = ~np.isnan(O)
    complete_o = o_ok.all(axis=0)
    ranked_o = _ranks(O)  # used for outputs without missing values when no covariates are given
    cov_ok = properties[covariates].notna().all(axis=1).to_numpy() if covariates else np.ones(len(O), bool)
    rows = []
    for prop in properties.columns:
        if prop in covariates:
            continue
        x_all = properties[prop]
        x_ok = x_all.notna().to_numpy() & cov_ok
        rx_all = _ranks(x_all.to_numpy(float)) if types[prop] == "continuous" and x_ok.all() else None
        for j, out in enumerate(outputs.columns):
            ok = o_ok[:, j] & x_ok
            o = O[ok, j]
            x = x_all[ok]
            row = {"output": out, "property": prop, "type": types[prop]}
            if types[prop] == "continuous":
                if rx_all is not None and complete_o[j] and not covariates:
                    rho = float(np.corrcoef(ranked_o[:, j], rx_all)[0, 1])
                    res = _rho_stats(rho, len(o), 0, ci_level)
                else:
                    cov = properties.loc[ok, covariates].to_numpy(float) if covariates else None
                    res = spearman(o, x.to_numpy(float), cov, ci_level)
                row.update(test="partial Spearman" if covariates else "Spearman", effect="rho", **res)
            elif x.nunique() == 2:
                row.update(test="Welch t", effect="g", **hedges_g(o, x.to_numpy(), ci_level))
            else:
                row.update(test="one-way ANOVA", effect="eta2",
                           **anova_eta2(o, x.to_numpy(), ci_level=ci_level, n_bootstrap=n_bootstrap, rng=rng))
            rows.append(row)
    order = {out: j for j, out in enumerate(outputs.columns)}
    df = pd.DataFrame(rows)
    df = df.iloc[np.argsort(df["output"].map(order).to_numpy(), kind="stable")].reset_index(drop=True)
    for col in ("contrast", "df2"):
        if col not in df:
            df[col] = np.nan
    df["p_corr"] = correct_p(df["p"].to_numpy(), correction)
    df.attrs["psychoface"] = {
        "analysis": "property_association",
        "seed": seed,
        "ci_level": ci_level,
        "ci_method": "Fisher z (rho); Hedges & Olkin standard error with a t critical value (g); percentile bootstrap over "
        "faces (eta squared)",
        "p_method": "t test of rho (n - 2 - k df); Welch t test; one-way ANOVA F test",
        "correction": correction_name,
        "family": family,
        "covariates": covariates,
        "n_bootstrap": n_bootstrap,
        "share_significant": share_significant(df["p_corr"]),
    }
    return df


def share_significant(p_corr, alpha: float = 0.05) -> float:
    """Share of tests with a corrected p below ``alpha`` (NaN p values left out)."""
    p = np.asarray(p_corr, float)
    p = p[~np.isnan(p)]
    return float((p < alpha).mean()) if len(p) else float("nan")


def design(properties: pd.DataFrame, types: dict[str, str]) -> tuple[np.ndarray, list[str]]:
    """Intercept plus the properties (categorical: treatment-coded dummies, first sorted level as reference)."""
    cols, names = [np.ones(len(properties))], ["intercept"]
    for prop in properties.columns:
        if types[prop] == "continuous":
            cols.append(properties[prop].to_numpy(float))
            names.append(prop)
        else:
            levels = sorted(properties[prop].dropna().unique(), key=str)
            for lev in levels[1:]:
                cols.append((properties[prop] == lev).to_numpy(float))
                names.append(f"{prop}[{lev}]")
    return np.column_stack(cols), names


def ols_hc3(
    outputs: pd.DataFrame,
    properties: pd.DataFrame,
    types: dict[str, str],
    *,
    ci_level: float = 0.95,
    correction: str = "holm",
    family: str = "outputs x terms",
) -> pd.DataFrame:
    """One OLS model per output on all properties together, HC3 SEs; one row per output and term."""
    correction_name = correction_label(correction)
    outputs = outputs.reindex(properties.index)
    rows = []
    crit = stats.norm.ppf(0.5 + ci_level / 2)
    for out in outputs.columns:
        ok = outputs[out].notna() & properties.notna().all(axis=1)
        X, names = design(properties[ok], types)
        y = outputs.loc[ok, out].to_numpy(float)
        n, k = X.shape
        if n <= k:
            raise PsychofaceError(f"output {out!r}: {n} complete faces for {k} model terms; use fewer properties")
        XtX_inv = np.linalg.pinv(X.T @ X)
        b = XtX_inv @ X.T @ y
        e = y - X @ b
        h = np.einsum("ij,jk,ik->i", X, XtX_inv, X)
        meat = (X * (e / (1 - h))[:, None] ** 2).T @ X
        se = np.sqrt(np.diag(XtX_inv @ meat @ XtX_inv))
        z = b / se
        sd_y = y.std(ddof=1)
        for j, name in enumerate(names[1:], start=1):
            rows.append({"output": out, "term": name, "n": n, "b": b[j], "se": se[j],
                         "beta": b[j] * X[:, j].std(ddof=1) / sd_y,
                         "ci_low": b[j] - crit * se[j], "ci_high": b[j] + crit * se[j],
                         "z": z[j], "p": float(2 * stats.norm.sf(abs(z[j])))})
    df = pd.DataFrame(rows)
    df["p_corr"] = correct_p(df["p"].to_numpy(), correction)
    df.attrs["psychoface"] = {
        "analysis": "property_ols",
        "seed": None,
        "ci_level": ci_level,
        "ci_method": "normal approximation with HC3 standard errors",
        "p_method": "z test with HC3 standard errors",
        "correction": correction_name,
        "family": family,
        "share_significant": share_significant(df["p_corr"]),
    }
    return df
