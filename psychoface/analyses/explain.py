"""Statistics across faces of explanation maps: region shares, cluster tests, faithfulness, sanity checks.

Inputs are plain arrays: maps ``(n_faces, H, W)`` in register (see :mod:`psychoface.explain.align`), region
label images ``(H, W)``; results are tidy DataFrames, one row per test.

* :func:`region_shares`: each face's share of absolute attribution in each region, ``sum_r |A| / sum |A|``,
  against the region's share of the image area (where the readout looks beyond what the region's size
  predicts) or, paired, against the same face's share under a reference readout (e.g. one fitted on
  permuted ratings). Per region: one-sample test of the mean difference, by sign-flip permutation (the
  same random signs for every region; p = (b + 1)/(N + 1), two-sided; Phipson & Smyth, 2010) or
  Wilcoxon's signed-rank test (scipy), Holm across the regions; the effect size d_z = mean / SD of the
  differences (ddof 1; Lakens, 2013) with a percentile bootstrap CI over faces. The signed share
  ``sum_r A / sum |A|`` gives the direction (positive: the region raises the prediction).
* :func:`region_pairs`: pairwise region comparisons of the same differences (share minus reference of
  region r minus that of region s), same tests, Holm across the pairs.
* :func:`cluster_test`: cluster-based permutation test over the pixel lattice (Maris & Oostenveld, 2007) with
  MNE's ``permutation_cluster_1samp_test`` (paired: maps minus reference maps; sign flips) or
  ``permutation_cluster_test`` (two groups, e.g. high- vs low-rated faces; a t statistic), cluster-forming
  threshold at the two-sided t quantile of ``cluster_alpha``, 4-neighbour lattice adjacency; optional
  threshold-free cluster enhancement (Smith & Nichols, 2009). MNE counts the observed labelling among its
  permutations, so its p equals (b + 1)/(N + 1) with N = n_permutations - 1 random ones. One row per
  cluster: sign, extent, peak t and its position and region, p (family-wise over the map by the max
  statistic).
* :func:`faithfulness`: deletion and insertion AUCs (Petsiuk et al., 2018) of the attribution order against
  a random order, paired across faces (sign-flip permutation or Wilcoxon, Holm across the two curves), d_z
  with bootstrap CI.
* :func:`similarity_check`: a sanity check (Adebayo et al., 2018) as the mean Spearman correlation of the
  absolute maps of the original and a randomised model (per face), with a percentile bootstrap CI and a
  verdict: the check is passed when the CI's upper bound lies below ``threshold``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from psychoface.analyses.inference import correct_p, correction_label, percentile_ci, permutation_p
from psychoface.errors import PsychofaceError

TESTS = ("signflip", "wilcoxon")


def _check_maps(maps, name="maps"):
    maps = np.asarray(maps)
    if maps.ndim != 3 or len(maps) < 3:
        raise PsychofaceError(f"{name}: expected at least 3 faces x height x width, got shape {maps.shape}")
    return maps


def _abs_totals(maps, labels, n_regions, chunk=64):
    """Per face: sum |A| and sum A in each region, read in chunks (memory maps are not loaded whole)."""
    n = len(maps)
    flat = labels.ravel()
    absum, signed = np.zeros((n, n_regions)), np.zeros((n, n_regions))
    for s in range(0, n, chunk):
        block = np.asarray(maps[s:s + chunk], dtype=np.float64).reshape(-1, flat.size)
        for r in range(n_regions):
            sel = flat == r
            absum[s:s + chunk, r] = np.abs(block[:, sel]).sum(axis=1)
            signed[s:s + chunk, r] = block[:, sel].sum(axis=1)
    return absum, signed


def _one_sample(D, test, n_permutations, n_bootstrap, ci_level, rng):
    """Two-sided tests of mean(D[:, j]) = 0 per column, d_z and its bootstrap CI."""
    n, m = D.shape
    mean = D.mean(axis=0)
    sd = D.std(axis=0, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        dz = np.where(sd > 0, mean / sd, np.nan)
    perm_rng, boot_rng = rng.spawn(2)
    if test == "signflip":
        signs = perm_rng.choice([-1.0, 1.0], size=(n_permutations, n))
        p = permutation_p(mean, signs @ D / n, alternative="two-sided")
    else:
        p = np.array([stats.wilcoxon(D[:, j]).pvalue if np.any(D[:, j] != 0) else 1.0 for j in range(m)])
    lo, hi = np.full(m, np.nan), np.full(m, np.nan)
    if n_bootstrap:
        idx = boot_rng.integers(0, n, size=(n_bootstrap, n))
        reps = np.empty((n_bootstrap, m))
        for b in range(n_bootstrap):
            s = D[idx[b]]
            with np.errstate(invalid="ignore", divide="ignore"):
                reps[b] = s.mean(axis=0) / s.std(axis=0, ddof=1)
        lo, hi = percentile_ci(reps, ci_level)
    return mean, dz, lo, hi, p


def _check_common(test, correction, n_permutations, n_bootstrap, ci_level):
    if test not in TESTS:
        raise PsychofaceError(f"test {test!r}: use one of {', '.join(TESTS)}")
    correction_label(correction)
    if test == "signflip" and n_permutations < 1:
        raise PsychofaceError("n_permutations must be at least 1 for the sign-flip test")
    if not 0 < ci_level < 1:
        raise PsychofaceError(f"ci_level = {ci_level!r}: must lie between 0 and 1, e.g. 0.95")


def _meta(analysis, seed, ci_level, n_bootstrap, test, n_permutations, correction, family, **params):
    return {
        "analysis": analysis, "seed": seed, "ci_level": ci_level,
        "ci_method": "percentile bootstrap over faces" if n_bootstrap else "none",
        "p_method": ("two-sided sign-flip permutation test of the mean difference across faces, "
                     "p = (b + 1)/(N + 1)") if test == "signflip" else "two-sided Wilcoxon signed-rank test",
        "correction": correction_label(correction), "family": family, "test": test,
        "n_permutations": n_permutations if test == "signflip" else 0, "n_bootstrap": n_bootstrap,
        "effect_size": "d_z = mean difference / SD of the differences", **params,
    }


def _shares(maps, labels, n_regions):
    absum, signed = _abs_totals(maps, labels, n_regions)
    total = absum.sum(axis=1, keepdims=True)
    if np.any(total <= 0):
        bad = int(np.flatnonzero(total[:, 0] <= 0)[0])
        raise PsychofaceError(f"maps: face {bad + 1} has an all-zero map; its attributions cannot be shared out")
    return absum / total, signed / total


def region_shares(maps, labels, names, *, reference=None, test: str = "signflip", n_permutations: int = 5000,
                  n_bootstrap: int = 2000, ci_level: float = 0.95, correction: str = "holm",
                  seed: int = 0) -> pd.DataFrame:
    """Share of absolute attribution per region against its area share (or paired against ``reference``).

    ``maps``: (n, H, W) signed maps in register; ``labels``: (H, W) region index per pixel; ``names``: region
    names by index. Returns one row per region: ``region, n, area_share, share, share_ratio, signed_share,
    share_excess, d_z, ci_low, ci_high, p, p_corr, share_low, share_high`` (``share_excess`` = mean of share
    minus area share, or minus the reference share; CI for d_z), with ``reference_share`` (mean share under the
    reference) after ``share`` when ``reference`` is given.
    """
    _check_common(test, correction, n_permutations, n_bootstrap, ci_level)
    maps = _check_maps(maps)
    labels = np.asarray(labels)
    if labels.shape != maps.shape[1:]:
        raise PsychofaceError(f"regions: label image of shape {labels.shape} does not match maps of {maps.shape[1:]}")
    k = len(names)
    present = np.bincount(labels.ravel(), minlength=k)
    share, signed = _shares(maps, labels, k)
    area = present / labels.size
    if reference is not None:
        reference = _check_maps(reference, "reference maps")
        if reference.shape != maps.shape:
            raise PsychofaceError(f"reference maps {reference.shape} do not match maps {maps.shape}")
        base, _ = _shares(reference, labels, k)
    else:
        base = np.broadcast_to(area, share.shape)
    keep = present > 0
    D = (share - base)[:, keep]
    rng = np.random.default_rng(seed)
    mean, dz, lo, hi, p = _one_sample(D, test, n_permutations, n_bootstrap, ci_level, rng)
    share_lo = share_hi = np.full(int(keep.sum()), np.nan)
    if n_bootstrap:
        idx = rng.integers(0, len(share), size=(n_bootstrap, len(share)))
        share_lo, share_hi = percentile_ci(share[:, keep][idx].mean(axis=1), ci_level)
    out = pd.DataFrame({
        "region": np.asarray(names, dtype=object)[keep], "n": len(maps), "area_share": area[keep],
        "share": share[:, keep].mean(axis=0), "share_ratio": share[:, keep].mean(axis=0) / area[keep],
        "signed_share": signed[:, keep].mean(axis=0), "share_excess": mean, "d_z": dz, "ci_low": lo,
        "ci_high": hi, "p": p, "p_corr": correct_p(p, correction), "share_low": share_lo, "share_high": share_hi,
    })
    if reference is not None:
        out.insert(out.columns.get_loc("share") + 1, "reference_share", base[:, keep].mean(axis=0))
    against = "the same face's share under the reference readout" if reference is not None else "the region's area share"
    out.attrs["psychoface"] = _meta(
        "explain_regions", seed, ci_level, n_bootstrap, test, n_permutations, correction,
        f"{int(keep.sum())} face regions", against=against,
        share="absolute attribution in the region / absolute attribution in the map, per face")
    return out


def region_pairs(maps, labels, names, *, reference=None, test: str = "signflip", n_permutations: int = 5000,
                 n_bootstrap: int = 2000, ci_level: float = 0.95, correction: str = "holm",
                 seed: int = 0) -> pd.DataFrame:
    """Pairwise region comparisons of (share minus area or reference share); one row per pair."""
    _check_common(test, correction, n_permutations, n_bootstrap, ci_level)
    maps = _check_maps(maps)
    labels = np.asarray(labels)
    k = len(names)
    present = np.bincount(labels.ravel(), minlength=k) > 0
    share, _ = _shares(maps, labels, k)
    if reference is not None:
        base, _ = _shares(_check_maps(reference, "reference maps"), labels, k)
    else:
        base = np.broadcast_to(np.bincount(labels.ravel(), minlength=k) / labels.size, share.shape)
    E = share - base
    idx = np.flatnonzero(present)
    pairs = [(a, b) for i, a in enumerate(idx) for b in idx[i + 1:]]
    D = np.column_stack([E[:, a] - E[:, b] for a, b in pairs])
    mean, dz, lo, hi, p = _one_sample(D, test, n_permutations, n_bootstrap, ci_level, np.random.default_rng(seed))
    out = pd.DataFrame({
        "region_a": [names[a] for a, _ in pairs], "region_b": [names[b] for _, b in pairs], "n": len(maps),
        "pair_difference": mean, "d_z": dz, "ci_low": lo, "ci_high": hi, "p": p, "p_corr": correct_p(p, correction),
    })
    out.attrs["psychoface"] = _meta("explain_region_pairs", seed, ci_level, n_bootstrap, test, n_permutations,
                                    correction, f"{len(pairs)} pairs of face regions")
    return out


def cluster_test(maps, *, reference=None, groups=None, labels=None, names=None, n_permutations: int = 1024,
                 cluster_alpha: float = 0.05, tfce: bool = False, seed: int = 0):
    """Cluster-based permutation test of maps ``(n, H, W)`` (paired against ``reference``, against 0, or
    between ``groups``: a boolean array, True = first group).

    Returns ``(clusters, t_map, masks)``: one row per cluster (sorted by p), the (H, W) map of t values and
    each row's cluster as a boolean (H, W) mask.
    ``labels``/``names`` name the region of each cluster's peak.
    """
    import mne.stats as mne_stats
    permutation_cluster_1samp_test = mne_stats.permutation_cluster_1samp_test
    permutation_cluster_test, ttest_ind_no_p = mne_stats.permutation_cluster_test, mne_stats.ttest_ind_no_p

    maps = _check_maps(maps)
    if n_permutations < 2:
        raise PsychofaceError("n_permutations must be at least 2 for the cluster test")
    X = np.asarray(maps, dtype=np.float64)
    if reference is not None:
        X = X - np.asarray(reference, dtype=np.float64)
    if groups is not None:
        groups = np.asarray(groups, dtype=bool)
        a, b = X[groups], X[~groups]
        if min(len(a), len(b)) < 2:
            raise PsychofaceError("cluster test: each group needs at least 2 faces")
        df = len(a) + len(b) - 2
        thr = dict(start=0, step=0.2) if tfce else float(stats.t.ppf(1 - cluster_alpha / 2, df))
        T, clusters, pv, _ = permutation_cluster_test(
            [a, b], threshold=thr, n_permutations=n_permutations, tail=0, stat_fun=ttest_ind_no_p,
            out_type="mask", rng=seed, verbose=False)
        design = "two groups (independent-samples t)"
    else:
        df = len(X) - 1
        thr = dict(start=0, step=0.2) if tfce else float(stats.t.ppf(1 - cluster_alpha / 2, df))
        T, clusters, pv, _ = permutation_cluster_1samp_test(
            X, threshold=thr, n_permutations=n_permutations, tail=0, out_type="mask", rng=seed, verbose=False)
        design = "paired against the reference readout's maps" if reference is not None else "one sample against 0"
    rows, masks = [], []
    if tfce:  # one p per pixel: report the connected regions of pixels with p < .05
        from scipy import ndimage
        pmap = np.asarray(pv).reshape(T.shape)
        comp, k = ndimage.label(pmap < 0.05)
        clusters = [comp == i for i in range(1, k + 1)]
        pv = [float(pmap[c].min()) for c in clusters]
    for c, p in zip(clusters, pv):
        c = np.asarray(c).reshape(T.shape)
        masks.append(c)
        t_in = np.where(c, T, 0.0)
        peak = np.unravel_index(np.argmax(np.abs(t_in)), T.shape)
        rows.append({
            "sign": "positive" if T[peak] > 0 else "negative", "extent": int(c.sum()),
            "extent_share": float(c.mean()), "peak_t": float(T[peak]), "peak_x": int(peak[1]),
            "peak_y": int(peak[0]),
            "peak_region": (names[labels[peak]] if labels is not None and names is not None else ""),
            "mean_difference": float(X[:, c].mean()) if groups is None else
            float(X[groups][:, c].mean() - X[~groups][:, c].mean()),
            "p": float(p), "p_corr": float(p),
        })
    out = pd.DataFrame(rows, columns=["sign", "extent", "extent_share", "peak_t", "peak_x", "peak_y",
                                      "peak_region", "mean_difference", "p", "p_corr"])
    order = np.argsort(out["p"].to_numpy(), kind="stable")
    out, masks = out.iloc[order].reset_index(drop=True), [masks[i] for i in order]
    out.attrs["psychoface"] = {
        "analysis": "explain_clusters", "seed": seed, "ci_level": None, "ci_method": "none",
        "p_method": ("cluster-based permutation test (MNE), cluster mass of t, max statistic over the map; "
                     "p = (b + 1)/(N + 1)") if not tfce else "threshold-free cluster enhancement (MNE), max statistic",
        "correction": "the maximum cluster statistic over the map (family-wise; p_corr = p)",
        "family": "pixels of the map",
        "n_permutations": n_permutations, "cluster_alpha": cluster_alpha, "tfce": tfce, "design": design,
        "cluster_threshold": thr if tfce else float(thr), "df": df, "n_faces": len(X),
        "map_shape": list(T.shape),
    }
    return out, T, masks


def faithfulness(curves: dict, *, test: str = "signflip", n_permutations: int = 5000, n_bootstrap: int = 2000,
                 ci_level: float = 0.95, correction: str = "holm", seed: int = 0) -> pd.DataFrame:
    """Deletion and insertion AUCs of the attribution order against a random order, paired across faces.

    ``curves``: ``{"deletion": (attributed (n, s), random (n, s)), "insertion": (...)}``, the model output
    after each of ``s`` equal steps of removing (deletion) or adding back (insertion) pixels, including the
    start. AUC = trapezoid mean over the steps. A faithful map lowers the deletion AUC and raises the
    insertion AUC relative to the random order. One row per curve.
    """
    _check_common(test, correction, n_permutations, n_bootstrap, ci_level)
    rows, diffs = [], []
    for kind in ("deletion", "insertion"):
        attr, rand = (np.asarray(c, dtype=np.float64) for c in curves[kind])
        auc_a, auc_r = np.trapezoid(attr, axis=1) / (attr.shape[1] - 1), np.trapezoid(rand, axis=1) / (rand.shape[1] - 1)
        d = auc_r - auc_a if kind == "deletion" else auc_a - auc_r
        diffs.append(d)
        rows.append({"curve": kind, "n": len(d), "auc_attribution": auc_a.mean(), "auc_random": auc_r.mean()})
    mean, dz, lo, hi, p = _one_sample(np.column_stack(diffs), test, n_permutations, n_bootstrap, ci_level,
                                      np.random.default_rng(seed))
    out = pd.DataFrame(rows)
    out["advantage"], out["d_z"], out["ci_low"], out["ci_high"], out["p"] = mean, dz, lo, hi, p
    out["p_corr"] = correct_p(p, correction)
    out.attrs["psychoface"] = _meta("explain_faithfulness", seed, ci_level, n_bootstrap, test, n_permutations,
                                    correction, "deletion and insertion curves",
                                    advantage="random-order AUC minus attribution-order AUC for deletion, the "
                                    "reverse for insertion (positive: the map orders pixels better than chance)")
    return out


def spearman_maps(a, b) -> np.ndarray:
    """Per-face Spearman correlation of the absolute values of two stacks of maps (Adebayo et al., 2018)."""
    a, b = np.abs(np.asarray(a, dtype=np.float64)), np.abs(np.asarray(b, dtype=np.float64))
    ra = stats.rankdata(a.reshape(len(a), -1), axis=1)
    rb = stats.rankdata(b.reshape(len(b), -1), axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ra * rb).sum(axis=1) / np.sqrt((ra * ra).sum(axis=1) * (rb * rb).sum(axis=1))


def similarity_check(similarities: dict, *, threshold: float = 0.5, n_bootstrap: int = 2000,
                     ci_level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Sanity checks as similarity scores: ``{check name: per-face similarities}`` -> one row per check with
    the mean, its percentile bootstrap CI and the verdict (passed when the CI's upper bound < ``threshold``)."""
    rng = np.random.default_rng(seed)
    rows = []
    for name, s in similarities.items():
        s = np.asarray(s, dtype=np.float64)
        s = s[np.isfinite(s)]
        if len(s) == 0:
            raise PsychofaceError(f"sanity check {name}: no finite similarity (all maps constant)")
        boot = s[rng.integers(0, len(s), size=(n_bootstrap, len(s)))].mean(axis=1) if n_bootstrap else np.array([np.nan])
        lo, hi = percentile_ci(boot[:, None], ci_level)
        rows.append({"check": name, "n": len(s), "similarity": s.mean(), "ci_low": float(lo[0]),
                     "ci_high": float(hi[0]),
                     "verdict": "passed" if hi[0] < threshold else "failed"})
    out = pd.DataFrame(rows)
    out.attrs["psychoface"] = {
        "analysis": "explain_sanity", "seed": seed, "ci_level": ci_level,
        "ci_method": "percentile bootstrap over faces", "p_method": "none", "correction": "none",
        "family": "sanity checks", "n_bootstrap": n_bootstrap, "threshold": threshold,
        "similarity": "Spearman correlation of absolute maps, original vs randomised, per face",
        "verdict_rule": f"passed when the upper CI bound of the mean similarity is below {threshold}",
    }
    return out
