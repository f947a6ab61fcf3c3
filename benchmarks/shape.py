"""Benchmark: every shape analysis on 1,000 faces x 68 landmarks with 10,000 permutations, psychoface
against the same analyses written with geomstats' own calls.

Data: the exact dlib-order landmarks of 1,000 synthetic demo faces (psychoface.data.synthetic), four
attributes (their true scores plus N(0, 10^2) noise) and two groups (dominant above / below its median).

psychoface (timed in full): ``fit_shapes`` (geomstats pre-shapes and FrechetMean(adaptive), closed-form
alignment and log map), ``tangent_pca`` (one economy-size SVD), ``averageness`` (10,000 permutations, 5,000 bootstrap
resamples each re-estimating the mean shape), ``shape_regression`` (4 terms, RRPP, 10,000 permutations),
``group_differences`` (10,000 label permutations, both means re-estimated), ``dimorphism`` (10,000
permutations, 5,000 resamples re-estimating both means), ``symmetry`` (10,000 sign flips) with the asymmetry
correlations (10,000 permutations, 5,000 resamples), and the shape RDM with a 10,000-permutation Mantel
test against the combined rating RDM (no RSA bootstrap: that is the RSA benchmark's subject).

geomstats baseline (the geometric steps written with geomstats 2.8's calls; the statistics around them are
the same numpy in both): the log map (``metric.log``), ``TangentPCA`` and the asymmetry distances
(``metric.dist``) timed in full; per bootstrap resample or permutation a ``FrechetMean(method="adaptive")`` fit of the resampled
faces (epsilon 1e-8, as psychoface's resample tolerance) plus ``metric.dist`` to it, timed on a few and
extrapolated linearly; the pairwise distances with ``metric.dist`` over all pairs of 100 faces, extrapolated
to 1,000 by the number of pairs; RRPP has no geomstats counterpart, so its baseline is two least-squares
fits per permutation (numpy ``lstsq``), timed on 200 permutations and extrapolated.

    .venv/bin/python benchmarks/shape.py            # about 1 minute for psychoface, a few for the baseline
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd


def _data(n: int, seed: int):
    from psychoface.data.synthetic import face_landmarks, face_parameters, true_scores

    params = face_parameters(n, seed=seed)
    coords = np.stack([face_landmarks(row, seed=(seed, i)) for i, (_, row) in enumerate(params.iterrows())])
    rng = np.random.default_rng(seed)
    truth = true_scores(params)
    ratings = truth + rng.normal(0, 10, truth.shape)
    labels = np.where(ratings["dominant"] > ratings["dominant"].median(), "high", "low")
    return list(params.index), coords, ratings.reset_index(drop=True), labels


def _timed(results: dict, name: str, func):
    t0 = time.perf_counter()
    out = func()
    results[name] = time.perf_counter() - t0
    return out


def psychoface_run(ids, coords, ratings, labels, n_perm: int, n_boot: int) -> tuple[dict, dict]:
    from psychoface.analyses.rdm import rating_rdm
    from psychoface.analyses.rsa import rsa
    from psychoface.analyses.shape import kendall
    from psychoface.analyses.shape.averageness import averageness
    from psychoface.analyses.shape.correlation import correlate_scores
    from psychoface.analyses.shape.groups import dimorphism, group_differences
    from psychoface.analyses.shape.rdm import shape_rdm
    from psychoface.analyses.shape.regression import shape_regression
    from psychoface.analyses.shape.symmetry import symmetry
    from psychoface.data.landmarks import DLIB68_MIRROR

    t, keep = {}, {}
    fit = _timed(t, "mean shape, alignment, log map", lambda: kendall.fit_shapes(coords, ids))
    _timed(t, "tangent PCA", lambda: kendall.tangent_pca(fit.preshapes, fit.mean))
    r = ratings.set_index(pd.Index(ids))
    keep["averageness"] = _timed(t, "averageness", lambda: averageness(
        fit, r, n_permutations=n_perm, n_bootstrap=n_boot))
    keep["regression"] = _timed(t, "shape regression (RRPP)", lambda: shape_regression(
        fit.tangent_matrix, r, n_permutations=n_perm))
    keep["groups"] = _timed(t, "group difference", lambda: group_differences(fit, labels, n_permutations=n_perm))
    _timed(t, "dimorphism", lambda: dimorphism(fit, labels, r, n_permutations=n_perm, n_bootstrap=n_boot))

    def sym():
        faces, test = symmetry(fit, DLIB68_MIRROR, n_permutations=n_perm)
        return correlate_scores(faces["asymmetry"].to_numpy(), r, n_permutations=n_perm, n_bootstrap=n_boot)

    _timed(t, "symmetry + asymmetry correlations", sym)

    shape = _timed(t, "shape RDM", lambda: shape_rdm(fit))
    ratings_rdm = rating_rdm(r, list(r.columns))
    keep["rsa"] = _timed(t, "Mantel test of the shape RDM (rsa module)", lambda: rsa(
        {"ratings": ratings_rdm}, {"shape": shape}, n_permutations=n_perm, n_bootstrap=0))
    keep["fit"] = fit
    return t, keep


def psychoface_steps(fit, n_boot: int) -> dict:
    """The geometric steps of the analyses on their own, as psychoface computes them."""
    from psychoface.analyses.inference import resample_counts
    from psychoface.analyses.shape import kendall
    from psychoface.analyses.shape.averageness import resampled_distances
    from psychoface.analyses.shape.symmetry import mirror_images
    from psychoface.data.landmarks import DLIB68_MIRROR

    P, n = fit.preshapes, len(fit.ids)
    t = {}
    _timed(t, "log map", lambda: kendall.log_map(P, fit.mean))
    rng = np.random.default_rng(0)
    distances = resampled_distances(fit)
    _timed(t, "bootstrap means", lambda: [distances(resample_counts(rng, min(500, n_boot - s), n))
                                          for s in range(0, n_boot, 500)])
    M = mirror_images(P, DLIB68_MIRROR)
    _timed(t, "asymmetry distances", lambda: kendall.rho(P, M))
    both = kendall.to_complex(np.concatenate([P, M]))
    _timed(t, "symmetric mean", lambda: kendall.batched_means(both, np.full((1, 2 * n), 0.5 / n),
                                                              kendall.to_complex(fit.mean)))
    _timed(t, "pairwise distances", lambda: kendall.pairwise_rho(P))
    return t


def geomstats_run(fit, ratings, labels, n_perm: int, n_boot: int, reps: int) -> tuple[dict, dict]:
    from psychoface.analyses.shape import kendall
    from psychoface.analyses.shape.kendall import _learning, geomstats_spaces
    from psychoface.analyses.shape.symmetry import mirror_images
    from psychoface.data.landmarks import DLIB68_MIRROR

    P, n, k = fit.preshapes, len(fit.ids), fit.preshapes.shape[1]
    _, quotient = geomstats_spaces(k)
    FrechetMean, _ = _learning()
    rng = np.random.default_rng(0)
    t, note = {}, {}

    def mean_of(points):
        est = FrechetMean(quotient, method="adaptive")
        est.optimizer.epsilon, est.optimizer.max_iter = 1e-8, 1000
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(points)
        return est.estimate_

    def per_call(name, func, count, what):
        t0 = time.perf_counter()
        for _ in range(reps):
            func()
        each = (time.perf_counter() - t0) / reps
        t[name] = each * count
        note[name] = f"extrapolated from {reps} {what}"

    t0 = time.perf_counter()
    kendall.geomstats_tangent_pca(P, fit.mean)
    t["tangent PCA"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    logs = quotient.metric.log(P, fit.mean)
    t["log map"] = time.perf_counter() - t0
    note["log map"] = f"max |difference| {np.abs(logs - fit.tangent).max():.1e}"

    def resample_mean():
        idx = rng.integers(0, n, n)
        m = mean_of(P[idx])
        return quotient.metric.dist(P, m)

    per_call("averageness bootstrap (mean per resample)", resample_mean, n_boot, "resamples")

    def permuted_groups():
        perm = rng.permutation(labels)
        a, b = mean_of(P[perm == "high"]), mean_of(P[perm == "low"])
        return quotient.metric.dist(a, b)

    per_call("group difference (two means per permutation)", permuted_groups, n_perm, "permutations")

    def dimorphism_resample():
        idx = rng.integers(0, n, n)
        lab = labels[idx]
        a, b = mean_of(P[idx][lab == "low"]), mean_of(P[idx][lab == "high"])
        v = quotient.metric.log(b, a)
        return (quotient.metric.log(P, a).reshape(n, -1) @ v.ravel()) / (v**2).sum()

    per_call("dimorphism bootstrap (two means per resample)", dimorphism_resample, n_boot, "resamples")

    M = mirror_images(P, DLIB68_MIRROR)
    t0 = time.perf_counter()
    asym = quotient.metric.dist(P, M)
    t["asymmetry distances"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    mean_of(np.concatenate([P, M]))
    t["symmetric mean"] = time.perf_counter() - t0
    note["asymmetry distances"] = f"max |difference| {np.abs(asym - kendall.rho(P, M)).max():.1e}"

    m = 100
    t0 = time.perf_counter()
    sub = P[:m]
    D = np.zeros((m, m))
    for i in range(m - 1):
        D[i, i + 1:] = quotient.metric.dist(np.broadcast_to(sub[i], sub[i + 1:].shape), sub[i + 1:])
    per_pair = (time.perf_counter() - t0) / (m * (m - 1) / 2)
    t["pairwise distances"] = per_pair * n * (n - 1) / 2
    note["pairwise distances"] = (f"{m} faces, extrapolated by pairs; max |difference| "
                                  f"{np.abs(D + D.T - kendall.pairwise_rho(sub)).max():.1e}")

    X = np.column_stack([np.ones(n), ratings.to_numpy()])
    Y = fit.tangent_matrix
    t0 = time.perf_counter()
    count = 200
    for _ in range(count):
        perm = rng.permutation(n)
        for term in range(1, X.shape[1]):
            red = X[:, :term]
            fitted = red @ np.linalg.lstsq(red, Y, rcond=None)[0]
            Ystar = fitted + (Y - fitted)[perm]
            np.linalg.lstsq(X[:, :term + 1], Ystar, rcond=None)
            np.linalg.lstsq(red, Ystar, rcond=None)
            np.linalg.lstsq(X, Ystar, rcond=None)
    t["RRPP by refitting"] = (time.perf_counter() - t0) / count * n_perm
    note["RRPP by refitting"] = f"numpy lstsq, extrapolated from {count} permutations"
    return t, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=1000)
    parser.add_argument("--permutations", type=int, default=10_000)
    parser.add_argument("--bootstrap", type=int, default=5_000)
    parser.add_argument("--reps", type=int, default=3, help="geomstats calls timed per extrapolated step")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-baseline", action="store_true", help="time psychoface only")
    args = parser.parse_args()
    ids, coords, ratings, labels = _data(args.faces, args.seed)
    print(f"{args.faces:,} faces x {coords.shape[1]} landmarks, {args.permutations:,} permutations, "
          f"{args.bootstrap:,} bootstrap resamples")
    ours, kept = psychoface_run(ids, coords, ratings, labels, args.permutations, args.bootstrap)
    for name, seconds in ours.items():
        print(f"  psychoface  {name:<45s} {seconds:8.2f} s")
    print(f"  psychoface  {'total':<45s} {sum(ours.values()):8.2f} s")
    if args.no_baseline:
        return
    base, note = geomstats_run(kept["fit"], ratings, labels, args.permutations, args.bootstrap, args.reps)
    for name, seconds in base.items():
        print(f"  geomstats   {name:<45s} {seconds:8.2f} s  ({note.get(name, 'measured')})")
    steps = psychoface_steps(kept["fit"], args.bootstrap)
    rows = [
        (f"log map ({args.faces:,} faces)", steps["log map"], base["log map"]),
        ("tangent PCA", ours["tangent PCA"], base["tangent PCA"]),
        (f"mean re-estimated in {args.bootstrap:,} resamples", steps["bootstrap means"],
         base["averageness bootstrap (mean per resample)"]),
        (f"group means in {args.permutations:,} permutations", ours["group difference"],
         base["group difference (two means per permutation)"]),
        (f"dimorphism (whole) vs its {args.bootstrap:,} resampled means", ours["dimorphism"],
         base["dimorphism bootstrap (two means per resample)"]),
        ("asymmetry distances", steps["asymmetry distances"], base["asymmetry distances"]),
        (f"symmetric mean ({2 * args.faces:,} shapes)", steps["symmetric mean"], base["symmetric mean"]),
        ("pairwise distances (shape RDM)", steps["pairwise distances"], base["pairwise distances"]),
        (f"RRPP, 4 terms, {args.permutations:,} permutations", ours["shape regression (RRPP)"],
         base["RRPP by refitting"]),
    ]
    print(f"\n  {'step':<55s} {'psychoface':>11s} {'baseline':>11s} {'ratio':>8s}")
    for name, a, b in rows:
        print(f"  {name:<55s} {a:10.3f}s {b:10.2f}s {b / a:7.1f}x")
    print(f"\n  every analysis with psychoface: {sum(ours.values()):.1f} s; the geometric steps with geomstats' "
          f"calls (and RRPP by refitting): {sum(base.values()):.0f} s")


if __name__ == "__main__":
    main()
