"""Cross-validated ridge readout of ratings from a layer.

Method. For every attribute, ratings are predicted from a layer's features by ridge regression inside
k-fold cross-validation (``folds`` outer folds, optionally ``repeats`` times with fresh splits). Within
each outer training fold:

1. every feature is centred with the training fold's mean (the default), or z-scored with the
   training fold's mean and SD (ddof = 0) with ``standardize=True``; a feature that is constant in the
   training fold (the variance test of scikit-learn's ``StandardScaler``, after Chan, Golub & LeVeque,
   1983) is set to 0, so it carries no weight;
2. ridge regression with an unpenalised intercept is solved in its dual (kernel) form on the
   stimulus-by-stimulus Gram matrix ``K = Xs Xs'`` (Hastie, Tibshirani & Friedman, 2009, sec. 18.3.5),
   whose eigendecomposition gives the solution for every penalty at once;
3. the penalty is chosen per attribute by exact leave-one-out cross-validation inside the training fold,
   from the closed form ``e_i = [(I - H)y]_i / (I - H)_ii`` (Allen, 1974; Golub, Heath & Wahba, 1979),
   the criterion of scikit-learn's ``RidgeCV``; the test fold never touches standardisation, penalty
   choice or fit.

Penalties are given relative to the kernel's scale: the absolute penalty is ``alpha * trace(K) / n``
(``n`` training stimuli), i.e. a multiple of the mean squared norm of a training row, which for z-scored
features equals the number of non-constant features (and the mean eigenvalue of ``K``, up to n/(n - 1)).
The default grid, ``10**-3 ... 10**3`` in half-decade steps, therefore means the same amount of shrinkage
for a 1,000- and a 100,000-dimensional layer; its lower end (a thousandth of the mean eigenvalue) barely
shrinks and its upper end (a thousand times it) shrinks every direction strongly. Chosen penalties are
reported on this relative scale (``alpha_relative_median``, the median over folds and repeats; the
predictions' ``alpha_relative``), and ``attrs["psychoface"]["alpha_grid_edge"]`` counts the attribute x
fold choices that fell on the smallest or largest value of the grid (many such choices mean the grid
should be widened on that side).

Noise ceiling. Given per attribute (normally sqrt of the split-half reliability of the mean ratings,
:func:`psychoface.analyses.reliability.noise_ceiling`), it is reported beside r with ``r_normalized =
r / noise_ceiling``; how it was derived is stated in ``attrs["psychoface"]["noise_ceiling_method"]``
(taken from the ceiling's own ``attrs`` when it comes from ``split_half_reliability``), and the ``note``
column says why a ceiling is missing.

Accuracy is Pearson's r between the out-of-fold predictions, pooled over folds, and the observed ratings
(with repeats: the mean r over repeats), with out-of-fold R^2 = 1 - SS_res / SS_tot and the RMSE. The CI
is a percentile bootstrap over stimuli, resampling (observed, predicted) pairs with the predictions held
fixed. The p-value is a one-sided permutation test of r > 0: the ratings are permuted over stimuli and
the whole cross-validated pipeline, including the inner choice of the penalty, is refitted for every
permutation, p = (b + 1) / (N + 1) (Phipson & Smyth, 2010; Ojala & Garriga, 2010). Because
standardisation depends on the features only, a permuted target is just another column for the same
per-fold eigendecompositions: all attributes and permutations are solved as one matrix of targets.

Control (``control``: stimulus properties such as sex or age, one numeric column each). Inside each outer
training fold, the features and the ratings are regressed on the properties (with an intercept) by least
squares fitted on the training stimuli only; the test stimuli's residuals use the training fit. The
readout is fitted and scored on these residuals, so r is the part of the prediction not carried linearly
by the properties. Residualising the features is the linear map ``R = I - C (C_t'C_t)^-1 C_t' S_t`` on the
stimuli (``C`` the properties with an intercept, ``_t`` the training rows, ``S_t`` the selection of the
training rows), so the fold's kernel is ``R K R'``. The permutation test permutes the ratings' residuals on
the properties (Freedman & Lane, 1983): the properties' part of the ratings cancels in every fold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from psychoface.analyses.inference import correct_p, correction_label, percentile_ci, permutation_p
from psychoface.analyses.reliability import normalized_score
from psychoface.errors import PsychofaceError

DEFAULT_ALPHAS = np.logspace(-3, 3, 13)
_GRAM_BUDGET_BYTES = 512 * 2**20  # float64 Gram matrices held at once while reading the features
_TARGET_BATCH_BYTES = 32 * 2**20  # float64 target columns handled at once per fold
_BOOTSTRAP_BLOCK_ELEMENTS = 2**22  # resampled stimulus indices drawn at once


def predict_ratings(
    X,
    Y: pd.DataFrame,
    *,
    attributes=None,
    folds: int = 10,
    repeats: int = 1,
    alphas=DEFAULT_ALPHAS,
    n_permutations: int = 1000,
    n_bootstrap: int = 5000,
    ci_level: float = 0.95,
    correction: str = "holm",
    noise_ceiling=None,
    standardize: bool = False,
    seed: int = 0,
    chunk_size: int = 4096,
    return_predictions: bool = False,
    noise_ceiling_method: str | None = None,
    control=None,
):
    """Predict each attribute from the features by cross-validated ridge regression.

    Parameters
    ----------
    X : array (n_stimuli, n_features)
        Features, one row per stimulus in the order of ``Y``'s rows (float32 memory maps are read in
        chunks of ``chunk_size`` features and never copied whole).
    Y : DataFrame
        Ratings, index = stimulus ids, one column per attribute; NaN = not rated (those stimuli are
        left out for that attribute only).
    attributes : list of str, optional
        Columns of ``Y`` to predict (default: all).
    folds, repeats : int
        Outer k-fold cross-validation, repeated with fresh random splits.
    alphas : 1-D array
        Ridge penalties relative to ``trace(K_train) / n_train`` (see the module docstring).
    n_permutations : int
        Permutations of the refitting permutation test (0: no p-value).
    n_bootstrap : int
        Bootstrap resamples for the CI of r (0: no CI).
    ci_level : float
        Level of the percentile bootstrap interval.
    correction : str
        Correction across the attributes (``"holm"``, ``"fdr_bh"``, ``"bonferroni"``, ``"none"``).
    noise_ceiling : Series or dict, optional
        Attribute -> noise ceiling (e.g. ``sqrt`` of the split-half reliability); reported beside each
        attribute with ``r_normalized = r / noise_ceiling`` (NaN where the ceiling is missing or <= 0,
        with the reason in ``note``).
    standardize : bool
        ``True`` z-scores the features with the training fold's mean and SD; ``False`` (default) only
        centres them. Centring is the default because with sparse (ReLU) features a unit active in one
        or two training stimuli has a tiny SD, and a test stimulus that activates it gets an extreme
        z-score and an extreme prediction (MobileNetV2's last block on OMI: mean out-of-fold r .63
        z-scored vs .75 centred over 34 attributes).
    seed : int
        Seed (a whole number >= 0) of the splits, permutations and bootstrap.
    chunk_size : int
        Features read at once.
    return_predictions : bool
        Also return the out-of-fold predictions.
    noise_ceiling_method : str, optional
        How ``noise_ceiling`` was derived, for ``attrs["psychoface"]["noise_ceiling_method"]``. Default:
        the method recorded in the ceiling's ``attrs`` when it was taken from a
        ``split_half_reliability`` table (e.g. ``table.set_index("attribute")["noise_ceiling"]``), else
        "supplied by the caller".
    control : array or DataFrame (n_stimuli, n_properties), optional
        Properties regressed out of features and ratings inside each training fold (see the module
        docstring); numeric, no missing values, rows in the order of ``Y``'s rows (categorical properties
        as dummy columns). Then r, R^2 and the predictions' ``observed`` refer to the ratings' residuals.

    Returns
    -------
    DataFrame, one row per attribute: ``attribute, n, r, r2, rmse, ci_low, ci_high, p, p_corr,
    alpha_relative_median, noise_ceiling, r_normalized, note`` (``alpha_relative_median``: median over
    folds and repeats of the chosen penalty in multiples of ``trace(K_train) / n_train``; ``note``: why
    ``noise_ceiling`` is missing, else empty); parameters in ``df.attrs["psychoface"]``. With
    ``return_predictions``, a tuple ``(results, predictions)`` where ``predictions`` is a long DataFrame
    with columns ``stimulus, attribute, repeat, fold, alpha_relative, observed, predicted``.
    """
    ids, names, ratings = check_ratings(Y, attributes)
    X = check_features(X, len(ids))
    alphas = _check_settings(alphas, folds, repeats, n_permutations, n_bootstrap, chunk_size, seed)
    correction_name = correction_label(correction)
    if not 0 < ci_level < 1:
        raise PsychofaceError(f"ci_level = {ci_level!r}: must lie between 0 and 1, e.g. 0.95")
    ceilings, ceiling_notes = _check_ceilings(noise_ceiling, names, Y.columns)
    C = _check_control(control, ids)
    for j, name in enumerate(names):
        _check_attribute(name, ratings[:, j], folds)

    fold_rng, perm_rng, boot_rng = np.random.default_rng(seed).spawn(3)
    orders = [fold_rng.permutation(len(ids)) for _ in range(repeats)]
    groups = missingness_groups(ratings)
    for group in groups:
        group["folds"] = [_fold_ids(order, group["rows"], folds) for order in orders]
        group["perms"] = perm_rng.permuted(
            np.tile(np.arange(len(group["rows"])), (n_permutations, 1)), axis=1
        )
        group["y"] = ratings[np.ix_(group["rows"], group["cols"])]
        group["control"] = None if C is None else C[group["rows"]]
        _fit_group(group, X, ids, alphas, repeats, folds, standardize, chunk_size)
        group["boot"] = _bootstrap_r(group, n_bootstrap, boot_rng)

    results = _summarise(groups, names, ceilings, n_permutations, n_bootstrap, ci_level, correction)
    results["note"] = ceiling_notes
    results.attrs["psychoface"] = {
        "analysis": "predict",
        "model": "ridge regression (dual form), unpenalised intercept",
        "seed": seed,
        "folds": folds,
        "repeats": repeats,
        "inner_folds": "leave-one-out",
        "inner_cv": "exact leave-one-out inside each outer training fold (closed form), "
        "minimum mean squared error",
        "alphas": [float(a) for a in alphas],
        "alpha_scale": "multiples of the mean squared norm of a training row; with z-scored features "
        "this is the number of non-constant features (trace(K_train) / n_train); alpha_relative_median and "
        "the predictions' alpha_relative are on this scale",
        "alpha_grid_edge": _grid_edge(groups, alphas),
        "standardize": standardize,
        "standardisation": (
            "features z-scored with each outer training fold's mean and SD (ddof = 0)"
            if standardize
            else "features centred on each outer training fold's mean"
        )
        + "; features constant in a training fold set to 0",
        "r_method": "Pearson r of the out-of-fold predictions pooled over folds"
        + (", mean over repeats" if repeats > 1 else ""),
        "n_permutations": n_permutations,
        "n_bootstrap": n_bootstrap,
        "ci_level": ci_level,
        "ci_method": "percentile bootstrap over stimuli of (observed, predicted) pairs, predictions fixed"
        if n_bootstrap
        else "none",
        "p_method": "one-sided permutation test of a positive correlation, refitting the whole "
        "cross-validated pipeline (standardisation, inner choice of the penalty, fit) for each permutation "
        "of the ratings; p = (b + 1)/(N + 1)"
        if n_permutations
        else "none",
        "correction": correction_name,
        "family": f"{len(names)} attributes predicted from this layer",
        "noise_ceiling_method": _ceiling_method(noise_ceiling, noise_ceiling_method),
        "control": "none" if C is None else f"{C.shape[1]} property column(s) regressed out of features and "
        "ratings inside each outer training fold (least squares with an intercept, fitted on the training "
        "stimuli); permutations of the ratings' residuals on them",
    }
    if not return_predictions:
        return results
    return results, _predictions_frame(groups, ids, names)


# ----------------------------------------------------------------------------------------- checks


def check_ratings(Y, attributes):
    """Validate a ratings DataFrame; return ``(ids, attribute names, float ratings array)``."""
    if not isinstance(Y, pd.DataFrame):
        raise PsychofaceError(
            f"ratings: expected a DataFrame (stimuli x attributes), got {type(Y).__name__}; "
            "pass Ratings.means"
        )
    ids = [str(i) for i in Y.index]
    dup = pd.Index(ids)[pd.Index(ids).duplicated()]
    if len(dup):
        raise PsychofaceError(f"ratings: stimulus {dup[0]!r} appears twice; keep one row per stimulus")
    names = list(Y.columns) if attributes is None else list(attributes)
    unknown = [a for a in names if a not in Y.columns]
    if unknown:
        raise PsychofaceError(
            f"unknown attribute {unknown[0]!r}: the ratings have {', '.join(map(str, Y.columns))}"
        )
    if not names:
        raise PsychofaceError("ratings: no attributes to predict; name at least one")
    ratings = np.empty((len(ids), len(names)))
    for j, name in enumerate(names):
        col = pd.to_numeric(Y[name], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero((np.isnan(col) & Y[name].notna().to_numpy()) | np.isinf(col))
        if len(bad):
            value = Y[name].iloc[bad[0]]
            raise PsychofaceError(
                f"ratings: attribute {name!r}, stimulus {ids[bad[0]]!r} has rating {value!r}; "
                "ratings must be finite numbers (leave a cell empty for 'not rated')"
            )
        ratings[:, j] = col
    return ids, [str(n) for n in names], ratings


def check_features(X, n_stimuli):
    """Validate a stimuli x features array (memory maps are not copied); return it."""
    if not isinstance(X, np.ndarray):
        X = np.asarray(X)
    if X.ndim != 2:
        raise PsychofaceError(
            f"features: expected a 2-D array (stimuli x features), got shape {X.shape}"
        )
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise PsychofaceError(f"features: expected real numbers, got dtype {X.dtype}")
    if X.shape[0] != n_stimuli:
        raise PsychofaceError(
            f"features have {X.shape[0]} rows but the ratings have {n_stimuli} stimuli; align the "
            "ratings to the store's ids with Ratings.means.reindex(ids)"
        )
    if X.shape[1] == 0:
        raise PsychofaceError("features: the layer has no features")
    return X


def _check_settings(alphas, folds, repeats, n_permutations, n_bootstrap, chunk_size, seed):
    alphas = np.atleast_1d(np.asarray(alphas, dtype=float))
    if alphas.ndim != 1 or not len(alphas) or not np.all(np.isfinite(alphas)) or np.any(alphas <= 0):
        raise PsychofaceError(f"alphas {alphas.tolist()}: give one or more positive finite penalties")
    for name, value, low in (
        ("folds", folds, 2),
        ("repeats", repeats, 1),
        ("n_permutations", n_permutations, 0),
        ("n_bootstrap", n_bootstrap, 0),
        ("chunk_size", chunk_size, 1),
        ("seed", seed, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise PsychofaceError(f"{name} = {value!r}: must be an integer >= {low}")
    return alphas


def _check_control(control, ids):
    """The control properties as an (n, q) float array with an intercept column first, or None."""
    if control is None:
        return None
    names = list(control.columns) if isinstance(control, pd.DataFrame) else None
    C = np.asarray(control, dtype=float)
    C = C.reshape(len(C), -1) if C.ndim == 1 else C
    if C.shape[0] != len(ids):
        raise PsychofaceError(f"control: {C.shape[0]} rows for {len(ids)} stimuli; give one row per stimulus")
    bad = np.argwhere(~np.isfinite(C))
    if len(bad):
        col = names[bad[0][1]] if names else bad[0][1]
        raise PsychofaceError(
            f"control: stimulus {ids[bad[0][0]]!r} has no value of property {col!r}; leave the stimulus out"
        )
    return np.column_stack([np.ones(len(C)), C])


def _residualiser(C, train):
    """The (n, n) map R = I - C (C_t'C_t)^+ C_t' S_t: least-squares residuals on C fitted on ``train``."""
    R = np.eye(len(C))
    R[:, train] -= C @ np.linalg.pinv(C[train])
    return R


def _check_ceilings(noise_ceiling, names, columns):
    """Ceilings per attribute (NaN where missing) and, per attribute, why a ceiling is missing."""
    if noise_ceiling is None:
        note = (
            "no noise ceiling: it needs trial-level ratings (one row per rating) for the split-half "
            "reliability, so normalized r is not computed"
        )
        return np.full(len(names), np.nan), [note] * len(names)
    ceilings = pd.Series(noise_ceiling, dtype=object)
    unknown = [a for a in ceilings.index if a not in columns]
    if unknown:
        raise PsychofaceError(
            f"noise ceiling given for unknown attribute {unknown[0]!r}; use the ratings' column names"
        )
    values = pd.to_numeric(ceilings, errors="coerce")
    bad = values.index[values.isna() & ceilings.notna()]
    if len(bad):
        raise PsychofaceError(
            f"noise ceiling of {bad[0]!r} is {ceilings[bad[0]]!r}; give a number (or NaN)"
        )
    values = values.reindex(names).to_numpy(dtype=float)
    notes = []
    for name, value in zip(names, values):
        if name not in ceilings.index:
            notes.append(
                "no noise ceiling given for this attribute, so normalized r is not computed"
            )
        elif np.isnan(value):
            notes.append(
                "noise ceiling undefined (the split-half reliability of the mean ratings is undefined when "
                "the mean split-half r is not positive), so normalized r is not computed"
            )
        elif value <= 0:
            notes.append(f"noise ceiling {value:g} is not positive, so normalized r is not computed")
        else:
            notes.append("")
    return values, notes


def _ceiling_method(noise_ceiling, method):
    if noise_ceiling is None:
        return "none (no noise ceiling given)"
    if method is not None:
        return str(method)
    meta = getattr(noise_ceiling, "attrs", {}).get("psychoface", {})
    if meta.get("analysis") == "split_half_reliability" and meta.get("noise_ceiling"):
        return str(meta["noise_ceiling"])
    return "supplied by the caller (method not stated)"


def _grid_edge(groups, alphas):
    """How many attribute x fold (x repeat) penalty choices fell on the smallest or largest grid value."""
    chosen = np.concatenate([g["alpha"].ravel() for g in groups])
    low, high = int((chosen == alphas.min()).sum()), int((chosen == alphas.max()).sum())
    return {
        "smallest": low,
        "largest": high,
        "choices": int(chosen.size),
        "summary": f"{low} of {chosen.size} attribute x fold choices at the smallest alpha "
        f"({alphas.min():g}) and {high} at the largest ({alphas.max():g})"
        + ("; the grid has a single value" if len(alphas) == 1 else ""),
    }


def _check_attribute(name, y, folds):
    rated = y[~np.isnan(y)]
    n = len(rated)
    if n < folds:
        raise PsychofaceError(
            f"attribute {name!r}: {n} rated stimuli but folds = {folds}; use fewer folds or more stimuli"
        )
    if n - -(-n // folds) < 3:
        raise PsychofaceError(
            f"attribute {name!r}: {n} rated stimuli leave fewer than 3 per training fold with "
            f"folds = {folds}; use more stimuli or more folds"
        )
    if np.ptp(rated) == 0:
        raise PsychofaceError(
            f"attribute {name!r}: every rating is {rated[0]:g}; a constant attribute cannot be "
            "predicted, leave it out"
        )


# ------------------------------------------------------------------------------------- structure


def missingness_groups(ratings):
    """Attributes rated on the same stimuli: ``[{"rows": stimuli, "cols": attributes}, ...]``.

    Attributes of a group share folds, kernels and permutations.
    """
    rated = ~np.isnan(ratings)
    patterns, inverse = np.unique(rated.T, axis=0, return_inverse=True)
    return [
        {"rows": np.flatnonzero(pattern), "cols": np.flatnonzero(inverse.ravel() == k)}
        for k, pattern in enumerate(patterns)
    ]


def _fold_ids(order, rows, folds):
    """Fold of each of ``rows`` (local positions): the repeat's random order, cut into equal parts."""
    local = np.full(order.shape, -1)
    local[rows] = np.arange(len(rows))
    ordered = local[order]
    ordered = ordered[ordered >= 0]
    fold = np.empty(len(rows), dtype=int)
    for k, part in enumerate(np.array_split(ordered, folds)):
        fold[part] = k
    return fold


def is_constant(var, mean, n):
    """scikit-learn's StandardScaler test (two-pass variance error bound; Chan, Golub & LeVeque, 1983)."""
    eps = np.finfo(np.float64).eps
    return var <= n * eps * var + (n * mean * eps) ** 2


def _training_kernels(X, ids, rows, jobs, standardize, chunk_size):
    """Gram matrices of the features standardised (or centred) with each job's training rows.

    ``jobs`` are boolean training masks over ``rows``. The features are read once per batch of jobs, in
    chunks of ``chunk_size`` features converted to float64; each kernel accumulates ``Z Z'`` of its
    standardised chunk. Yields ``(job index, K)``.
    """
    n = len(rows)
    full = n == X.shape[0]
    if not standardize:
        yield from _centred_kernels(X, ids, rows, jobs, full, chunk_size)
        return
    per_pass = max(1, _GRAM_BUDGET_BYTES // (8 * n * n))
    for start in range(0, len(jobs), per_pass):
        batch = list(range(start, min(start + per_pass, len(jobs))))
        kernels = {j: np.zeros((n, n)) for j in batch}
        for c0 in range(0, X.shape[1], chunk_size):
            chunk = np.asarray(X[:, c0 : c0 + chunk_size], dtype=np.float64)
            if start == 0:
                check_finite(chunk, ids, c0)
            if not full:
                chunk = chunk[rows]
            for j in batch:
                train = chunk[jobs[j]]
                mean = train.mean(axis=0)
                train -= mean
                var = np.einsum("ij,ij->j", train, train) / len(train)
                keep = ~is_constant(var, mean, len(train))
                scale = np.zeros_like(var)
                scale[keep] = 1.0 / np.sqrt(var[keep]) if standardize else 1.0
                Z = chunk - mean
                Z *= scale
                kernels[j] += Z @ Z.T
        for j in batch:
            yield j, kernels.pop(j)


def _centred_kernels(X, ids, rows, jobs, full, chunk_size):
    """Centred Gram matrices of every job from one pass over the features.

    With ``G = X X'`` and ``w`` the training rows' averaging weights (1/t on training rows, 0 elsewhere),
    centring on the training mean gives ``K = G - G w 1' - 1 w' G + (w' G w) 1 1'`` exactly, so the
    features are read once for all folds and repeats. A feature constant over the training rows
    contributes nothing to the training and test-by-training entries, as in the z-scored path.
    """
    n = len(rows)
    G = np.zeros((n, n))
    for c0 in range(0, X.shape[1], chunk_size):
        chunk = np.asarray(X[:, c0 : c0 + chunk_size], dtype=np.float64)
        check_finite(chunk, ids, c0)
        if not full:
            chunk = chunk[rows]
        G += chunk @ chunk.T
    for j, mask in enumerate(jobs):
        w = mask / mask.sum()
        Gw = G @ w
        yield j, G - Gw[:, None] - Gw[None, :] + w @ Gw


def check_finite(chunk, ids, offset):
    """Refuse NaN/infinite features, naming the stimulus and the feature."""
    finite = np.isfinite(chunk)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise PsychofaceError(
            f"features: stimulus {ids[row]!r} has value {chunk[row, col]} in feature {offset + col}; "
            "re-extract the features or drop the stimulus"
        )


def _dual_solver(K_train):
    """Eigenvectors of the centred training kernel in the complement of the constant vector.

    A Householder reflection maps 1/sqrt(n) to e_1; its other columns are an orthonormal basis of the
    centred subspace, where the intercept is unpenalised (scikit-learn's RidgeCV does the same by
    zeroing the intercept direction's weight).
    """
    n = K_train.shape[0]
    v = np.full(n, 1.0 / np.sqrt(n))
    v[0] -= 1.0
    H = np.eye(n) - (2.0 / (v @ v)) * np.outer(v, v)
    B = H[:, 1:]
    with threadpool_limits(limits=1, user_api="blas"):  # multithreaded LAPACK is slower at this size
        lam, V = np.linalg.eigh(B.T @ K_train @ B)
    return np.clip(lam, 0.0, None), B @ V


class _FoldModel:
    """Ridge on one outer training fold, for every penalty and any number of targets at once."""

    def __init__(self, K, train, test, alphas):
        K_train = K[np.ix_(train, train)]
        scale = np.trace(K_train) / len(train)
        if scale <= 0:
            raise PsychofaceError(
                "features: every feature is constant in a training fold; choose another layer"
            )
        self.penalties = alphas * scale
        self.lam, self.Q = _dual_solver(K_train)
        self.G = K[np.ix_(test, train)] @ self.Q  # test-by-training kernel in the eigenbasis
        Q2 = self.Q * self.Q
        self.loo = []  # per penalty: Q_a with (Q_a @ Q'y)_i = leave-one-out residual of training stimulus i
        for a in self.penalties:
            d = a / (self.lam + a)
            h = Q2 @ d  # diagonal of I - H (hat matrix including the intercept)
            self.loo.append((self.Q * d) / h[:, None])

    def predict(self, T_train):
        """Test-fold predictions of each target column with its leave-one-out penalty (index returned).

        Ties between penalties go to the first (smallest) one, as in scikit-learn's RidgeCV.
        """
        Z = self.Q.T @ T_train
        best_mse = np.full(Z.shape[1], np.inf)
        best = np.zeros(Z.shape[1], dtype=int)
        for i, L in enumerate(self.loo):
            E = L @ Z
            mse = np.einsum("ij,ij->j", E, E)
            better = mse < best_mse
            best_mse[better] = mse[better]
            best[better] = i
        coef = Z / (self.lam[:, None] + self.penalties[best][None, :])
        return self.G @ coef + T_train.mean(axis=0), best


def _fit_group(group, X, ids, alphas, repeats, folds, standardize, chunk_size):
    """Out-of-fold predictions of the observed ratings and the r of every permuted target."""
    rows, y = group["rows"], group["y"]
    n, A = y.shape
    y_mean = y.mean(axis=0)
    yc = y - y_mean  # ridge with an intercept is shift-equivariant; centring keeps sums exact
    C = group["control"]
    if C is not None:  # residuals on the properties: their part cancels in every fold (module docstring)
        yc = yc - C @ np.linalg.lstsq(C, yc, rcond=None)[0]
    perms = np.vstack([np.arange(n)[None, :], group["perms"]])  # row 0: the observed ratings
    n_targets = len(perms) * A
    per_batch = max(1, _TARGET_BATCH_BYTES // (8 * n * A))
    batches = [perms[b : b + per_batch] for b in range(0, len(perms), per_batch)]
    sums = np.zeros((repeats, 5, n_targets))  # sums of p, p^2, p*y, y, y^2 over out-of-fold predictions
    pred = np.zeros((repeats, n, A))
    obs = np.zeros((repeats, n, A))  # observed ratings (with control: out-of-fold residuals), centred
    chosen = np.zeros((repeats, folds, A))  # relative penalty chosen per repeat, fold and attribute

    jobs = [(r, k) for r in range(repeats) for k in range(folds)]
    masks = [group["folds"][r] != k for r, k in jobs]
    for j, K in _training_kernels(X, ids, rows, masks, standardize, chunk_size):
        r, k = jobs[j]
        train, test = np.flatnonzero(masks[j]), np.flatnonzero(~masks[j])
        R = None if C is None else _residualiser(C, train)
        if R is not None:
            K = R @ K @ R.T
        fold = _FoldModel(K, train, test, alphas)
        col = 0
        for batch in batches:
            targets = yc[batch.T].reshape(n, -1)  # column b * A + attribute
            if R is not None:
                targets = R @ targets
            P, best = fold.predict(targets[train])
            width = P.shape[1]
            sums[r, 0, col : col + width] += P.sum(axis=0)
            sums[r, 1, col : col + width] += np.einsum("ij,ij->j", P, P)
            sums[r, 2, col : col + width] += np.einsum("ij,ij->j", P, targets[test])
            sums[r, 3, col : col + width] += targets[test].sum(axis=0)
            sums[r, 4, col : col + width] += np.einsum("ij,ij->j", targets[test], targets[test])
            if col == 0:
                pred[r][test] = P[:, :A]
                obs[r][test] = targets[test][:, :A]
                chosen[r, k] = alphas[best[:A]]
            col += width

    sp, spp, spy, sy, syy = (sums[:, i].reshape(repeats, len(perms), A) for i in range(5))
    cov = spy - sp * sy / n
    var_p = spp - sp * sp / n
    r_all = cov / np.sqrt(var_p * (syy - sy * sy / n))  # (repeats, 1 + N, A)
    group["null"] = r_all[:, 1:].mean(axis=0)
    group["pred"] = pred + y_mean
    group["obs"] = obs + y_mean
    group["alpha"] = chosen


def _pearson(a, b):
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    return (a * b).sum(axis=0) / np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))


def _bootstrap_r(group, n_bootstrap, rng):
    """Bootstrap replicates of the (repeat-averaged) r, resampling stimuli with replacement."""
    n, A = group["y"].shape
    if n_bootstrap == 0:
        return np.full((0, A), np.nan)
    moments = []  # per repeat: the columns whose resampled means give r
    for y, p in zip(group["obs"], group["pred"]):
        yc = y - y.mean(axis=0)
        pc = p - p.mean(axis=0)
        moments.append(np.hstack([yc, pc, yc * yc, pc * pc, yc * pc]))
    out = np.empty((n_bootstrap, A))
    block = max(1, _BOOTSTRAP_BLOCK_ELEMENTS // n)  # resamples drawn at once
    for b0 in range(0, n_bootstrap, block):
        size = min(block, n_bootstrap - b0)
        draws = rng.integers(0, n, size=(size, n))
        counts = np.bincount((draws + n * np.arange(size)[:, None]).ravel(), minlength=n * size)
        W = counts.reshape(size, n) / n  # resampling weights: row b is the b-th resample's mean
        reps = []
        for m in moments:
            my, mp, myy, mpp, myp = np.split(W @ m, 5, axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                reps.append((myp - my * mp) / np.sqrt((myy - my * my) * (mpp - mp * mp)))
        out[b0 : b0 + size] = np.mean(reps, axis=0)
    return out


# --------------------------------------------------------------------------------------- outputs


def _summarise(groups, names, ceilings, n_permutations, n_bootstrap, ci_level, correction):
    A = len(names)
    out = {k: np.full(A, np.nan) for k in ("n", "r", "r2", "rmse", "ci_low", "ci_high", "p", "alpha")}
    for g in groups:
        y, pred, cols = g["obs"], g["pred"], g["cols"]  # y: (repeats, n, A)
        r = np.mean([_pearson(p, o) for p, o in zip(pred, y)], axis=0)
        ss_tot = ((y - y.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)  # (repeats, A)
        ss_res = ((pred - y) ** 2).sum(axis=1)  # (repeats, A)
        out["n"][cols] = y.shape[1]
        out["r"][cols] = r
        out["r2"][cols] = (1.0 - ss_res / ss_tot).mean(axis=0)
        out["rmse"][cols] = np.sqrt(ss_res / y.shape[1]).mean(axis=0)
        out["alpha"][cols] = np.median(g["alpha"].reshape(-1, len(cols)), axis=0)
        if n_bootstrap:
            out["ci_low"][cols], out["ci_high"][cols] = percentile_ci(g["boot"], ci_level)
        if n_permutations:
            out["p"][cols] = permutation_p(r, g["null"], alternative="greater")
    return pd.DataFrame(
        {
            "attribute": names,
            "n": out["n"].astype(int),
            "r": out["r"],
            "r2": out["r2"],
            "rmse": out["rmse"],
            "ci_low": out["ci_low"],
            "ci_high": out["ci_high"],
            "p": out["p"],
            "p_corr": correct_p(out["p"], correction),
            "alpha_relative_median": out["alpha"],
            "noise_ceiling": ceilings,
            "r_normalized": normalized_score(out["r"], ceilings),
        }
    )


def _predictions_frame(groups, ids, names):
    stimuli = np.asarray(ids, dtype=object)
    where = {col: (g, j) for g in groups for j, col in enumerate(g["cols"])}
    frames = []
    for col, name in enumerate(names):
        g, j = where[col]
        for r, pred in enumerate(g["pred"]):
            frames.append(
                pd.DataFrame(
                    {
                        "stimulus": stimuli[g["rows"]],
                        "attribute": name,
                        "repeat": r,
                        "fold": g["folds"][r],
                        "alpha_relative": g["alpha"][r, g["folds"][r], j],
                        "observed": g["obs"][r][:, j],
                        "predicted": pred[:, j],
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)
