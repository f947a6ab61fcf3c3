"""Benchmark: psychoface's cross-validated ridge prediction against a loop of scikit-learn RidgeCV fits.

Workload (defaults): 500 stimuli x 100,352 features (the size of VGG16 conv5), stored as a float32 .npy
and read as a read-only memory map, 34 attributes, 10 outer folds, 1,000 permutations of the refitting
permutation test, 5,000 bootstrap resamples.

Baseline: what a user would write with scikit-learn for the same pipeline: for each attribute and outer
fold, ``make_pipeline(StandardScaler(with_std=False), RidgeCV(alphas))`` (centring only, psychoface's
default; with ``--standardize`` both sides z-score instead and the baseline uses ``StandardScaler()``)
fitted on the training fold (RidgeCV's efficient leave-one-out picks alpha) and used to predict the test
fold; the permutation test refits all of it for every permutation, i.e. (1 + N) x attributes x folds
fits. That is far too slow to run in full, so ``--baseline-fits`` of those fits are timed and the total
is extrapolated linearly (stated in the output).

Penalties: psychoface's grid is relative to ``trace(K_train) / n_train``, the mean squared norm of a
centred (or z-scored) training row; the baseline gets the same grid times that scale, computed outside
the timed part, so both choose from the same absolute penalties.

Equality: on the unpermuted ratings, r per attribute from scikit-learn (the same pipeline with
``alpha_per_target=True`` per fold, the same folds and the same absolute alphas, identical to the
per-attribute loop) against psychoface's r; the maximum absolute difference is reported.

Memory: peak of traced allocations (tracemalloc; numpy reports its buffers) during ``predict_ratings``;
the feature matrix itself stays a memory map.

Run: ``.venv/bin/python benchmarks/predict.py [--features 100352 --permutations 1000 ...]``
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from psychoface.analyses.predict import DEFAULT_ALPHAS, predict_ratings


def make_data(path: Path, n: int, p: int, n_attributes: int, seed: int):
    """Random float32 features written in blocks; ratings linear in a few hundred features plus noise."""
    rng = np.random.default_rng(seed)
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, p))
    for start in range(0, n, 50):
        X[start : start + 50] = rng.standard_normal((min(50, n - start), p), dtype=np.float32)
    X.flush()
    del X
    X = np.load(path, mmap_mode="r")
    Y = {}
    for a in range(n_attributes):
        units = rng.choice(p, size=300, replace=False)
        signal = X[:, units].astype(np.float64) @ rng.standard_normal(300)
        signal /= signal.std()
        Y[f"attribute_{a:02d}"] = 50 + 10 * (signal * rng.uniform(0.2, 1.5) + rng.standard_normal(n))
    return X, pd.DataFrame(Y, index=[str(i) for i in range(n)])


def penalty_scale(X, train, standardize: bool) -> float:
    """trace(K_train) / n_train of the centred (or z-scored) training rows: psychoface's alpha unit."""
    Xs = StandardScaler(with_std=standardize).fit_transform(X[train])
    return float(np.einsum("ij,ij->", Xs, Xs) / len(train))


def sklearn_fold(X, Y, train, test, alphas, standardize: bool, per_target: bool):
    model = make_pipeline(
        StandardScaler(with_std=standardize), RidgeCV(alphas=alphas, alpha_per_target=per_target)
    )
    return model.fit(X[train], Y[train]).predict(X[test])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stimuli", type=int, default=500)
    ap.add_argument("--features", type=int, default=100_352)
    ap.add_argument("--attributes", type=int, default=34)
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--permutations", type=int, default=1000)
    ap.add_argument("--bootstrap", type=int, default=5000)
    ap.add_argument("--baseline-fits", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--standardize", action="store_true", help="z-score features (default: centre only)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        X, Y = make_data(Path(tmp) / "features.npy", args.stimuli, args.features, args.attributes, args.seed)
        out = {"stimuli": args.stimuli, "features": args.features, "attributes": args.attributes,
               "folds": args.folds, "permutations": args.permutations, "bootstrap": args.bootstrap,
               "standardize": args.standardize, "cpu_count": os.cpu_count(),
               "load_average_before": os.getloadavg()}

        tracemalloc.start()
        t0 = time.perf_counter()
        res, pred = predict_ratings(X, Y, folds=args.folds, n_permutations=args.permutations,
                                    n_bootstrap=args.bootstrap, standardize=args.standardize, seed=args.seed,
                                    return_predictions=True)
        out["psychoface_s"] = time.perf_counter() - t0
        out["psychoface_peak_traced_MiB"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        out["feature_matrix_MiB"] = X.nbytes / 2**20

        # equality of r on the unpermuted ratings (all attributes, every fold), in float64
        Xd = np.asarray(X, dtype=np.float64)
        fold = pred[pred.attribute == Y.columns[0]].set_index("stimulus").loc[Y.index, "fold"].to_numpy()
        splits = [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(args.folds)]
        grids = [DEFAULT_ALPHAS * penalty_scale(Xd, train, args.standardize) for train, _ in splits]
        ref = np.empty(Y.shape)
        t0 = time.perf_counter()
        for (train, test), grid in zip(splits, grids):
            ref[test] = sklearn_fold(Xd, Y.to_numpy(), train, test, grid, args.standardize, True)
        out["sklearn_multitarget_unpermuted_s"] = time.perf_counter() - t0
        r_ref = [np.corrcoef(ref[:, j], Y.iloc[:, j])[0, 1] for j in range(Y.shape[1])]
        out["max_abs_r_difference"] = float(np.max(np.abs(np.array(r_ref) - res.r.to_numpy())))

        # the per-attribute, per-fold RidgeCV loop: time a few fits, extrapolate
        times = []
        for i in range(args.baseline_fits):
            k, j = i % args.folds, i % Y.shape[1]
            train, test = splits[k]
            t0 = time.perf_counter()
            sklearn_fold(Xd, Y.iloc[:, j].to_numpy(), train, test, grids[k], args.standardize, False)
            times.append(time.perf_counter() - t0)
        fits = (1 + args.permutations) * args.attributes * args.folds
        out["baseline_fit_s_mean"] = float(np.mean(times))
        out["baseline_fits_timed"] = args.baseline_fits
        out["baseline_fits_needed"] = fits
        out["baseline_extrapolated_s"] = float(np.mean(times)) * fits
        out["speedup"] = out["baseline_extrapolated_s"] / out["psychoface_s"]
        out["load_average_after"] = os.getloadavg()

    print(json.dumps(out, indent=2))
    print(
        f"psychoface: {out['psychoface_s']:.1f} s (peak traced {out['psychoface_peak_traced_MiB']:.0f} MiB; "
        f"features {out['feature_matrix_MiB']:.0f} MiB memory-mapped)\n"
        f"baseline: {out['baseline_fit_s_mean']:.2f} s per RidgeCV fit x {fits} fits = "
        f"{out['baseline_extrapolated_s'] / 3600:.1f} h (extrapolated linearly from {args.baseline_fits} "
        f"timed fits)\nspeed-up {out['speedup']:.0f}x; max |r difference| on unpermuted data "
        f"{out['max_abs_r_difference']:.2e}"
    )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
