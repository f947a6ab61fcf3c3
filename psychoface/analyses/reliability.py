"""Reliability of face ratings: random split-half with Spearman-Brown, intraclass correlations, and the
noise ceiling that reliability puts on any predictor of the mean ratings.

Split-half (``split_half_reliability``). For every attribute and every stimulus rated at least
``min_ratings`` times, the ratings are split into two halves and the half means are correlated across
stimuli (Pearson). When rater ids exist, the *raters* are split into two halves (within each connected
block of the stimulus x rater design, :mod:`psychoface.analyses.icc`), so that a rater's ratings stay in
one half, as the RSA noise ceiling does; this needs every stimulus to have raters in both halves, and a
split that leaves a stimulus without ratings in a half is drawn again (up to 50 times). Otherwise -- no
rater ids, or too few raters per stimulus -- each stimulus's k ratings are split at random into two
halves of floor(k/2) and ceil(k/2) ratings. The ``split`` column says which. This is repeated over
``n_splits`` random splits; the split-half correlations are averaged (arithmetic mean over splits,
``r_half``) and the *average* is stepped up to the full number of ratings with the Spearman-Brown formula,
factor 2:
reliability = 2 r_half / (1 + r_half) (Spearman, 1910; Brown, 1910). The formula maps the correlation
of two parallel halves to the reliability of their sum (Lord & Novick, 1968), and the mean over
random splits estimates the split-half correlation free of the arbitrariness of any one split (as in the
permutation split-half approach of Parsons, Kruijt & Fox, 2019). The correction is applied to the average
rather than averaged over splits because 2r / (1 + r) is unbounded below as r -> -1: a mean of corrected
values is dominated by the worst splits and undefined when one split gives r = -1.

Non-positive split-half correlations. Reliability is the share of observed variance that is true-score
variance, a number in [0, 1] (Lord & Novick, 1968). A mean split-half r <= 0 means that no
variance between stimuli was detected beyond rating noise; Spearman-Brown would turn it into an
impossible negative "reliability" (below -1 for r < -1/3), and no accepted correction exists. Then the
reliability, its confidence interval and the noise ceiling are reported as undefined (NaN) and the
``note`` column says why; ``r_half`` is still reported.

Confidence interval: a percentile bootstrap over stimuli (Efron & Tibshirani, 1993, ch. 13): stimuli
are resampled with replacement, each keeping its ratings and its split assignments, the mean split-half
r over the first ``bootstrap_splits`` (20) of the same splits is recomputed, and the percentile interval
of those means is stepped up with Spearman-Brown. The percentile interval respects monotone
transformations (Efron & Tibshirani, 1993, ch. 13), so this is the percentile interval of the
reliability; it is truncated below at 0, the bound of the parameter space (a lower limit of 0 reads "no
reliable variance is compatible with the data"), so it always lies in [0, 1].

Few ratings per stimulus. With fewer than about 5 ratings per stimulus the halves hold 1-2 ratings, the
halves are unequal for odd k (factor 2 then over-states the length ratio of a 1-rating and a 2-rating
half), and the estimate is biased low, with an interval that covers less often than nominal (200
simulated studies of 80 stimuli x 3 ratings, true reliability .5625: mean estimate .536, 95% CI coverage
.90; ``tests/test_reliability.py``). Such rows get a note, and ``attrs["psychoface"]["few_ratings"]``
states the caveat; collect more ratings per stimulus or read the value as a lower bound.

Random numbers. Each attribute uses its own generator, ``numpy.random.default_rng([seed,
zlib.crc32(attribute)])``, so an attribute's result does not depend on which other attributes are
analysed. From it, first one uniform key per rating and split is drawn (``rng.random(n_ratings)`` per
split, ratings in their row order in ``trials``); within a stimulus the floor(k/2) ratings with the
smallest keys form half A. Then, per bootstrap resample, ``rng.random(n_stimuli)`` is drawn and stimulus
``floor(u * n_stimuli)`` is taken (stimuli in order of first appearance). A plain loop that makes the
same calls reproduces every number (to floating-point rounding).

Intraclass correlations (``icc``, :mod:`psychoface.analyses.icc`) are computed per connected block of the
stimulus x rater design: by :func:`pingouin.intraclass_corr` in complete blocks, from the variance
components of crossed random effects (statsmodels MixedLM) in incomplete ones.

Noise ceiling (``noise_ceiling``): the correlation of the observed mean ratings with their true scores
is sqrt(reliability) (Spearman, 1904), which bounds the Pearson correlation any predictor can reach with
the mean ratings.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from psychoface.analyses.icc import ICC_FORMS, icc  # noqa: F401  (the public reliability functions)
from psychoface.analyses.inference import percentile_ci, resample_counts, spearman_brown
from psychoface.errors import PsychofaceError

MIN_STIMULI = 3  # a correlation across fewer stimuli is not defined (2 points always give r = +-1)
_BLOCK_ELEMENTS = 4_000_000  # floats held at once per block of splits or bootstrap resamples

SPLIT_HALF_METHOD = (
    "random split-half: for each stimulus its ratings were split at random into two halves of equal size "
    "(one rating more in one half when the number is odd), the half means were correlated across stimuli "
    "(Pearson), the correlations were averaged over random splits, and the mean split-half correlation was "
    "stepped up with the Spearman-Brown formula for a test of double length; reliability undefined when the "
    "mean split-half correlation is not positive"
)
RATER_SPLIT_METHOD = (
    "split-half by raters: the raters were split at random into two halves (within each block of stimuli "
    "and the raters who rated them), the mean ratings of each half were correlated across stimuli (Pearson), "
    "the correlations were averaged over random splits, and the mean split-half correlation was stepped up "
    "with the Spearman-Brown formula for a test of double length; reliability undefined when the mean "
    "split-half correlation is not positive"
)
SPLITS = ("auto", "raters", "ratings")
_REDRAWS = 50
_CEILING_SPLITS = {
    "raters": "split-half by raters",
    "ratings": "random split-half of each stimulus's ratings",
}


def noise_ceiling_method(splits=("ratings",)) -> str:
    """How the noise ceiling was derived, worded from the split methods used (the ``split`` column)."""
    used = [s for s in ("raters", "ratings") if s in set(splits)] or ["ratings"]
    how = " or ".join(_CEILING_SPLITS[s] for s in used)
    which = " (as the split column says)" if len(used) > 1 else ""
    return (f"square root of the {how}{which} (Spearman\u2013Brown) reliability of the mean ratings, the highest "
            "correlation any predictor can reach with them (Spearman, 1904; Lage-Castellanos et al., 2019); "
            "undefined when the reliability is undefined")


NOISE_CEILING_METHOD = noise_ceiling_method(("ratings",))
FEW_RATINGS = 5  # below this median number of ratings per stimulus, rows carry the few-ratings note
FEW_RATINGS_NOTE = (
    f"with fewer than {FEW_RATINGS} ratings per stimulus the split halves hold only a few ratings and are "
    "unequal for odd numbers of ratings: the split-half estimate is biased low and its CI covers less often "
    "than nominal (in 200 simulated studies of 80 stimuli x 3 ratings, true reliability .5625: mean "
    "estimate about .54, 95% CI coverage about .90); read it as a lower bound or collect more ratings"
)

# --------------------------------------------------------------------------------------------------
# input


def _trial_table(trials, need_rater: bool = False) -> tuple[pd.DataFrame, str]:
    """Validated copy of the long table (stimulus str, attribute str, rating float[, rater str]).

    ``trials`` is a DataFrame, ``None`` or a :class:`~psychoface.data.ratings.Ratings`-like object with
    ``trials`` and ``source`` attributes (then errors name the file).
    """
    source = "the ratings"
    if trials is not None and not isinstance(trials, pd.DataFrame) and hasattr(trials, "trials"):
        if getattr(trials, "source", None) is not None:
            source = str(trials.source)
        trials = trials.trials
    if trials is None:
        raise PsychofaceError(
            f"reliability needs trial-level ratings (one row per rating); {source} has one row of "
            "means per stimulus"
        )
    if not isinstance(trials, pd.DataFrame):
        raise PsychofaceError(
            f"trial-level ratings must be a DataFrame with columns stimulus, attribute, rating[, rater], "
            f"not {type(trials).__name__}"
        )
    missing = [c for c in ("stimulus", "attribute", "rating") if c not in trials.columns]
    if missing:
        raise PsychofaceError(
            f"{source}: trial-level ratings lack column(s) {', '.join(missing)}; give one row per "
            "rating with columns stimulus, attribute, rating[, rater]"
        )
    if need_rater and "rater" not in trials.columns:
        raise PsychofaceError(
            f"{source}: ICCs need rater ids (a 'rater' column) and there is none; use "
            "split_half_reliability instead"
        )
    rating = pd.to_numeric(trials["rating"], errors="coerce").astype(float)
    bad = ~np.isfinite(rating.to_numpy())
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        row = trials.iloc[i]
        raise PsychofaceError(
            f"{source}: row {trials.index[i]!r} (stimulus {row['stimulus']!r}, attribute "
            f"{row['attribute']!r}) has rating {row['rating']!r}, not a finite number; fix or remove "
            "that row"
        )
    table = pd.DataFrame(
        {
            "stimulus": trials["stimulus"].astype(str).to_numpy(),
            "attribute": trials["attribute"].astype(str).to_numpy(),
            "rating": rating.to_numpy(),
        }
    )
    if "rater" in trials.columns:
        if trials["rater"].isna().any():
            i = int(np.flatnonzero(trials["rater"].isna().to_numpy())[0])
            raise PsychofaceError(
                f"{source}: row {trials.index[i]!r} has no rater id; fill it in or drop the rater column"
            )
        table["rater"] = trials["rater"].astype(str).to_numpy()
    return table, source


def _select_attributes(table: pd.DataFrame, attributes, source: str) -> list[str]:
    valid = list(pd.unique(table["attribute"]))
    if attributes is None:
        if not valid:
            raise PsychofaceError(f"{source}: no ratings; give at least one row per rating")
        return valid
    if isinstance(attributes, str):
        attributes = [attributes]
    attributes = list(attributes)
    unknown = [a for a in attributes if a not in valid]
    if unknown or not attributes:
        raise PsychofaceError(
            f"unknown attribute(s) {', '.join(map(repr, unknown)) or '(none given)'} in {source}; "
            f"valid attributes: {', '.join(valid)}"
        )
    return attributes


def _check_count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise PsychofaceError(f"{name} = {value!r} must be a whole number >= {minimum}")
    return int(value)


def _attribute_rng(seed: int, attribute: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(attribute.encode("utf-8"))])


# --------------------------------------------------------------------------------------------------
# split-half core (vectorised)


def _half_means(codes, ratings, counts, n_splits, rng):
    """Means of halves A and B of every stimulus in every split, two arrays (n_splits, n_stimuli).

    Keys are laid out in a padded (stimulus x position) table whose padding cells hold +inf; sorting along
    the last axis gives each stimulus's floor(k/2)-th smallest key, and half A is the ratings whose keys
    are at most that threshold (keys are distinct doubles). Blocks of splits bound the memory.
    """
    n_stim, k_max = counts.size, int(counts.max())
    order = np.argsort(codes, kind="stable")
    starts = np.cumsum(counts) - counts
    pos = np.empty_like(codes)
    pos[order] = np.arange(codes.size) - np.repeat(starts, counts)
    padded = np.zeros((n_stim, k_max))
    padded[codes, pos] = ratings
    n_a = counts // 2
    sums_a = np.empty((n_splits, n_stim))
    block = max(1, _BLOCK_ELEMENTS // (n_stim * k_max))
    for start in range(0, n_splits, block):
        stop = min(n_splits, start + block)
        keys = np.full((stop - start, n_stim, k_max), np.inf)
        keys[:, codes, pos] = rng.random((stop - start, codes.size))
        threshold = np.sort(keys, axis=-1)[:, np.arange(n_stim), n_a - 1]
        sums_a[start:stop] = np.where(keys <= threshold[..., None], padded, 0.0).sum(axis=-1)
    totals = padded.sum(axis=1)
    return sums_a / n_a, (totals - sums_a) / (counts - n_a)


def _rater_half_means(codes, raters, ratings, n_stim, n_splits, rng):
    """Half means (two arrays (n_splits, n_stimuli)) of random halves of the raters, drawn within each
    connected block of the design; None when some split cannot give every stimulus ratings in both
    halves within :data:`_REDRAWS` draws."""
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    r_codes, names = pd.factorize(pd.Series(raters), sort=False)
    n_r = len(names)
    graph = sparse.coo_matrix((np.ones(codes.size), (codes, n_stim + r_codes)), shape=(n_stim + n_r,) * 2)
    _, label = connected_components(graph, directed=False)
    block = label[n_stim:]
    size = np.bincount(block)
    mean_a, mean_b = np.empty((n_splits, n_stim)), np.empty((n_splits, n_stim))
    for i in range(n_splits):
        for _ in range(_REDRAWS):
            key = rng.random(n_r)
            order = np.lexsort((key, block))  # by block, random within a block
            rank = np.empty(n_r, dtype=np.int64)
            starts = np.concatenate([[0], np.cumsum(size)[:-1]])
            rank[order] = np.arange(n_r) - starts[block[order]]
            in_a = (rank < size[block] // 2)[r_codes]
            k_a = np.bincount(codes[in_a], minlength=n_stim)
            k_b = np.bincount(codes[~in_a], minlength=n_stim)
            if (k_a > 0).all() and (k_b > 0).all():
                break
        else:
            return None
        mean_a[i] = np.bincount(codes[in_a], weights=ratings[in_a], minlength=n_stim) / k_a
        mean_b[i] = np.bincount(codes[~in_a], weights=ratings[~in_a], minlength=n_stim) / k_b
    return mean_a, mean_b


def _row_pearson(a, b):
    """Pearson r of each row of ``a`` with the same row of ``b``; NaN where either row is constant."""
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    saa, sbb = (a * a).sum(axis=-1), (b * b).sum(axis=-1)
    ok = (saa > 0) & (sbb > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, (a * b).sum(axis=-1) / np.sqrt(saa * sbb), np.nan)


def _mean_over_splits(values):
    """Mean over the last axis ignoring NaN; NaN (without a warning) where every value is NaN."""
    ok = np.isfinite(values)
    count = ok.sum(axis=-1)
    total = np.where(ok, values, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _interval(boot_r, level):
    """Percentile interval of the bootstrap mean split-half r, stepped up and truncated below at 0."""
    low, high = percentile_ci(boot_r, level)
    with np.errstate(divide="ignore"):  # a limit of r = -1 steps up to -inf, truncated to 0
        stepped = np.maximum(spearman_brown(np.array([low, high]), 2.0), 0.0)  # NaN stays NaN
    return float(stepped[0]), float(stepped[1])


def _bootstrap_r_half(mean_a, mean_b, n_bootstrap, rng):
    """Mean split-half r recomputed on ``n_bootstrap`` resamples of stimuli (same splits).

    A resample is a vector of counts w (how often each stimulus was drawn); the weighted sums of a, b, a^2,
    b^2 and ab over stimuli for all splits at once are one matrix product w @ terms. A split whose
    resampled half means are (numerically) constant has no r and is left out of that resample's mean.
    """
    n_splits, n = mean_a.shape
    a = mean_a - mean_a.mean(axis=1, keepdims=True)
    b = mean_b - mean_b.mean(axis=1, keepdims=True)
    terms = np.concatenate([a, b, a * a, b * b, a * b], axis=0).T  # (n, 5 * n_splits)
    # variances below this are a resample of (numerically) identical values: r undefined
    tiny_a = 1e-12 * np.maximum((a * a).mean(axis=1), np.finfo(float).tiny)
    tiny_b = 1e-12 * np.maximum((b * b).mean(axis=1), np.finfo(float).tiny)
    out = np.empty(n_bootstrap)
    block = max(1, _BLOCK_ELEMENTS // max(n, 5 * n_splits))
    for start in range(0, n_bootstrap, block):
        size = min(n_bootstrap, start + block) - start
        weights = resample_counts(rng, size, n)
        m = (weights @ terms) / n
        ma, mb, maa, mbb, mab = np.split(m, 5, axis=1)
        var_a, var_b = maa - ma * ma, mbb - mb * mb
        ok = (var_a > tiny_a) & (var_b > tiny_b)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.where(ok, (mab - ma * mb) / np.sqrt(var_a * var_b), np.nan)
        out[start : start + size] = _mean_over_splits(r)
    return out


# --------------------------------------------------------------------------------------------------
# public functions


def check_split_options(n_splits, n_bootstrap, min_ratings, bootstrap_splits, seed, ci_level, split, *,
                        min_bootstrap: int = 0):
    """The split-half options checked at the boundary (one line naming the bad value), as whole numbers:
    ``(n_splits, n_bootstrap, min_ratings, bootstrap_splits, seed)``; ``bootstrap_splits`` at most ``n_splits``."""
    n_splits = _check_count("n_splits", n_splits, 1)
    n_bootstrap = _check_count("n_bootstrap", n_bootstrap, min_bootstrap)
    min_ratings = _check_count("min_ratings", min_ratings, 2)
    bootstrap_splits = min(_check_count("bootstrap_splits", bootstrap_splits, 1), n_splits)
    seed = _check_count("seed", seed, 0)
    if not 0 < ci_level < 1:
        raise PsychofaceError(f"ci_level = {ci_level} must lie between 0 and 1, e.g. 0.95")
    if split not in SPLITS:
        raise PsychofaceError(f"split = {split!r}: use auto, raters or ratings")
    return n_splits, n_bootstrap, min_ratings, bootstrap_splits, seed


def split_half_reliability(
    trials,
    *,
    attributes=None,
    n_splits: int = 100,
    n_bootstrap: int = 5000,
    ci_level: float = 0.95,
    min_ratings: int = 2,
    bootstrap_splits: int = 20,
    seed: int = 0,
    split: str = "auto",
) -> pd.DataFrame:
    """Random split-half reliability of the mean rating of each attribute, with a bootstrap CI.

    Parameters
    ----------
    trials : DataFrame or Ratings
        Long table, one row per rating: ``stimulus``, ``attribute``, ``rating`` (and optionally ``rater``),
        or a ``Ratings`` object (its ``trials``; ``None`` there means means-only data, an error).
    attributes : list of str, optional
        Attributes to analyse (default: all, in order of first appearance).
    n_splits : int
        Random splits per attribute; their split-half correlations are averaged before the Spearman-Brown
        step-up.
    n_bootstrap : int
        Bootstrap resamples of stimuli for the percentile CI (0: no CI).
    ci_level : float
        Confidence level of the interval.
    min_ratings : int
        Stimuli with fewer ratings of an attribute are left out of it (counted in ``excluded_stimuli``).
    bootstrap_splits : int
        Each bootstrap resample re-uses the first ``min(bootstrap_splits, n_splits)`` splits (the cost
        is linear in it; split-to-split variation is small next to stimulus sampling variation).
    seed : int
        Seed; each attribute draws from ``default_rng([seed, crc32(attribute)])`` (module docstring).
    split : str
        ``"auto"``: halves of the raters when rater ids exist and every stimulus can have raters in both
        halves, else random halves of each stimulus's ratings; ``"raters"`` or ``"ratings"`` to choose.

    Returns
    -------
    DataFrame, one row per attribute: ``attribute``, ``split`` (``raters`` or ``ratings``), ``n`` (stimuli used), ``ratings_min``,
    ``ratings_median``, ``ratings_max`` (ratings per used stimulus), ``n_splits``, ``r_half`` (mean
    uncorrected split-half r over splits), ``reliability`` (Spearman-Brown of ``r_half``; NaN when
    ``r_half`` <= 0), ``ci_low``, ``ci_high`` (within [0, 1]), ``noise_ceiling`` (sqrt of the
    reliability), ``excluded_stimuli`` and ``note`` (why a value is NaN, and the few-ratings caveat;
    else empty). Method and parameters in ``df.attrs["psychoface"]``.

    The reliability refers to the mean of all of a stimulus's ratings (its observed mean rating); with
    odd or unequal numbers of ratings the halves are unequal and factor 2 is an approximation.

    Limitation: with fewer than about 5 ratings per stimulus the split halves are small (1-2 ratings)
    and unequal, the estimate is biased low and the CI undercovers (module docstring); such rows are
    noted.

    References: Spearman (1910); Brown (1910); Lord & Novick (1968), *Statistical Theories of Mental Test
    Scores*; Parsons, Kruijt & Fox (2019), Advances in Methods and Practices in Psychological Science,
    2, 378-395; Efron & Tibshirani (1993), *An Introduction to the Bootstrap*, ch. 13 (percentile
    interval).
    """
    table, source = _trial_table(trials)
    attributes = _select_attributes(table, attributes, source)
    n_splits, n_bootstrap, min_ratings, bootstrap_splits, seed = check_split_options(
        n_splits, n_bootstrap, min_ratings, bootstrap_splits, seed, ci_level, split)
    if split == "raters" and "rater" not in table.columns:
        raise PsychofaceError(f"{source}: split = 'raters' needs rater ids (a rater column); there are none")

    rows = []
    groups = dict(tuple(table.groupby("attribute", sort=False)))
    for attribute in attributes:
        rows.append(
            _split_half_one(
                groups[attribute], attribute, n_splits, n_bootstrap, bootstrap_splits, ci_level,
                min_ratings, seed, source, split,
            )
        )
    df = pd.DataFrame(rows)
    used = set(df["split"])
    df.attrs["psychoface"] = {
        "analysis": "split_half_reliability",
        "method": RATER_SPLIT_METHOD if used == {"raters"} else SPLIT_HALF_METHOD if used == {"ratings"} else (
            f"{RATER_SPLIT_METHOD} (attributes with split = raters); {SPLIT_HALF_METHOD} (split = ratings)"),
        "split": split,
        "estimator": "Spearman-Brown (factor 2) of the mean split-half r over random splits; undefined "
        "(NaN, with a note) when the mean split-half r <= 0",
        "seed": seed,
        "rng": "per attribute numpy default_rng([seed, crc32(attribute)])",
        "n_splits": n_splits,
        "n_bootstrap": n_bootstrap,
        "bootstrap_splits": bootstrap_splits,
        "ci_level": ci_level,
        "ci_method": "percentile bootstrap over stimuli" if n_bootstrap else "none (n_bootstrap = 0)",
        "ci_detail": f"stimuli resampled with replacement, each keeping its ratings and split "
        f"assignments; the mean split-half r recomputed over the first {bootstrap_splits} splits, its "
        "percentile interval stepped up with Spearman-Brown and truncated below at 0",
        "p_method": None,
        "correction": "none",
        "family": None,
        "min_ratings": min_ratings,
        "attributes": attributes,
        "noise_ceiling": noise_ceiling_method(used),
        "few_ratings": FEW_RATINGS_NOTE,
    }
    return df


def _split_half_one(
    sub, attribute, n_splits, n_bootstrap, bootstrap_splits, ci_level, min_ratings, seed, source, split="auto"
):
    codes_all, _ = pd.factorize(sub["stimulus"], sort=False)
    counts_all = np.bincount(codes_all)
    keep_stim = counts_all >= min_ratings
    n_used = int(keep_stim.sum())
    if n_used < MIN_STIMULI:
        raise PsychofaceError(
            f"{source}: attribute {attribute!r} has only {n_used} stimuli with >= {min_ratings} ratings; "
            f"split-half reliability needs at least {MIN_STIMULI}: collect more ratings or leave the "
            "attribute out (attributes=[...])"
        )
    keep_row = keep_stim[codes_all]
    # renumber the kept stimuli 0..n_used-1, keeping their order of first appearance
    new_code = np.cumsum(keep_stim) - 1
    codes = new_code[codes_all[keep_row]]
    ratings = sub["rating"].to_numpy()[keep_row]
    counts = counts_all[keep_stim]
    row = {
        "attribute": attribute,
        "split": "ratings",
        "n": n_used,
        "ratings_min": int(counts.min()),
        "ratings_median": float(np.median(counts)),
        "ratings_max": int(counts.max()),
        "n_splits": n_splits,
        "r_half": np.nan,
        "reliability": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "noise_ceiling": np.nan,
        "excluded_stimuli": int((~keep_stim).sum()),
        "note": "",
    }
    if np.ptp(ratings) == 0:
        row["note"] = f"constant ratings (every rating is {ratings[0]:g}): reliability undefined"
        return row
    rng = _attribute_rng(seed, attribute)
    raters = sub["rater"].to_numpy()[keep_row] if "rater" in sub.columns else None
    mean_a, mean_b, row["split"], notes, rng = split_halves(
        codes, raters, ratings, counts, n_splits, split, rng, lambda: _attribute_rng(seed, attribute),
        f"{source}: attribute {attribute!r}")
    r = _row_pearson(mean_a, mean_b)
    valid = int(np.isfinite(r).sum())
    if valid == 0:
        row["note"] = "; ".join(notes + ["half means do not vary across stimuli in any split: reliability undefined"])
        return row
    row["r_half"] = float(_mean_over_splits(r))
    if valid < n_splits:
        notes.append(f"{n_splits - valid} of {n_splits} splits had constant half means and were skipped")
    if row["r_half"] > 0:
        row["reliability"] = float(spearman_brown(row["r_half"], 2.0))
        row["noise_ceiling"] = float(noise_ceiling(row["reliability"]))
        if n_bootstrap:
            boot = _bootstrap_r_half(mean_a[:bootstrap_splits], mean_b[:bootstrap_splits], n_bootstrap, rng)
            row["ci_low"], row["ci_high"] = _interval(boot, ci_level)
    else:
        notes.append(
            f"mean split-half r = {row['r_half']:.3f} <= 0: no variance between stimuli beyond rating "
            "noise detected; reliability, its CI and the noise ceiling undefined"
        )
    if row["ratings_median"] < FEW_RATINGS:
        notes.append(
            f"median {row['ratings_median']:g} ratings per stimulus (< {FEW_RATINGS}): split-half "
            "reliability biased low and its CI covers less often than nominal; read it as a lower bound"
        )
    row["note"] = "; ".join(notes)
    return row


def split_halves(codes, raters, ratings, counts, n_splits, split, rng, fresh_rng, where):
    """Half means of every split, ``(mean_a, mean_b, split_used, notes, rng)``: halves of the raters when
    ``raters`` is given, ``split`` allows it and every stimulus can have raters in both halves; random
    halves of each stimulus's ratings otherwise (then drawn from ``fresh_rng()``, the generator returned)."""
    notes = []
    if split != "ratings" and raters is not None:
        halves = _rater_half_means(codes, raters, ratings, len(counts), n_splits, rng)
        if halves is not None:
            return *halves, "raters", notes, rng
        if split == "raters":
            raise PsychofaceError(
                f"{where}: no split of the raters into halves leaves every stimulus with ratings in both halves "
                f"(too few raters per stimulus); use split = 'ratings'"
            )
        notes.append("too few raters per stimulus to split the raters into halves: random halves of each "
                     "stimulus's ratings instead")
        rng = fresh_rng()
    return *_half_means(codes, ratings, counts, n_splits, rng), "ratings", notes, rng


def noise_ceiling(reliability):
    """Ceiling on the Pearson correlation any predictor can reach with the observed mean ratings.

    ceiling = sqrt(reliability): under classical test theory the observed mean rating is its true score
    plus error uncorrelated with everything else, so its correlation with the true score is
    sqrt(reliability) and a predictor's correlation with it is at most that (Spearman, 1904, correction
    for attenuation; Lage-Castellanos et al., 2019, on noise ceilings). Assumptions: the reliability
    refers to the same mean ratings (same raters and number of ratings per stimulus) that the predictor
    is scored against; rating errors are independent of the predictor; a predictor could in principle
    equal the true score. For reliability <= 0 (or NaN) the ceiling is undefined and NaN is returned.

    ``reliability`` may be a number (a float is returned) or array-like (an array is returned).
    """
    rel = np.asarray(reliability, dtype=float)
    out = np.sqrt(np.where(rel > 0, rel, np.nan))
    return float(out) if out.ndim == 0 else out


def normalized_score(r, ceiling):
    """r / ceiling: the share of the explainable correlation a predictor reaches (NaN where the ceiling
    is NaN or <= 0). Can exceed 1 by sampling error when r is near the ceiling."""
    r = np.asarray(r, dtype=float)
    ceiling = np.asarray(ceiling, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(ceiling > 0, r / np.where(ceiling > 0, ceiling, 1.0), np.nan)
    return float(out) if out.ndim == 0 else out
