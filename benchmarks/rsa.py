"""Benchmark: RSA of a 100,352-dimensional layer against one rating RDM, psychoface vs rsatoolbox.

The analysis: the layer RDM (correlation distance) of n stimuli, a rating RDM, their Spearman correlation
and a Mantel test with 10,000 permutations of the stimulus labels; with ``--bootstrap B`` also a percentile
CI from B resamples of the stimuli.

psychoface: ``layer_rdm`` streams the float32 layer from a read-only memory map in blocks of features, then
``rsa(n_permutations=10_000, n_bootstrap=0)``.
Baseline, the same analysis written with rsatoolbox 0.3: ``calc_rdm(Dataset(X), 'correlation')`` on the
layer loaded into memory as float64 (in float32 its RDM differs from scipy's at ~1e-7), ``calc_rdm(...,
'euclidean')`` of the ratings (squared differences: the same ranks as absolute differences), ``compare(...,
'spearman')``, and a permutation loop of ``reorder`` + ``compare``. The loop is too slow to run in full: a
subset of the same permutations is timed and extrapolated linearly to 10,000 (said in the output), and its
permuted correlations are checked against psychoface's for the same permutations.

Bootstrap baseline: rsatoolbox's stimulus ("pattern") bootstrap, ``eval_bootstrap_pattern(ModelFixed(layer),
rating, 'spearman', N, boot_noise_ceil=False)``, timed on the same subset size and extrapolated to B. It is
the same bootstrap as psychoface's: ``bootstrap_sample_pattern`` draws n stimuli with replacement and
``subsample_pattern`` sets the dissimilarity of a stimulus with its own copy to NaN, which ``compare`` drops
(psychoface drops these pairs too); pairs of copies of two different stimuli are kept, c_i c_j times. It
draws its resamples from numpy's global random state, so for the value check the first resamples of
psychoface's own stream are replayed through ``subsample_pattern`` + ``compare`` and their correlations
compared with psychoface's.

Each case runs in its own subprocess; peak memory is that process's ``resource.getrusage`` ru_maxrss. Both
run with the same number of BLAS threads (``--threads``, default 1: on a shared machine threaded BLAS mostly
waits on other processes; rsatoolbox's correlation RDM is an ``einsum`` that does not use BLAS threads).

    .venv/bin/python benchmarks/rsa.py                      # 500 and 2,000 stimuli
    .venv/bin/python benchmarks/rsa.py --bootstrap 5000     # and the 5,000-resample CI
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_FEATURES = 100_352
SEED = 0
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def make_data(folder: Path, n: int, d: int) -> None:
    """A random float32 layer with a 3-dimensional latent structure (written in blocks of rows) and a
    rating of the first latent dimension."""
    rng = np.random.default_rng(n)
    latent = rng.standard_normal((n, 3)).astype(np.float32)
    loadings = rng.standard_normal((3, d), dtype=np.float32) * 0.5
    offset = rng.uniform(0, 1, d).astype(np.float32)  # a ReLU-like positive offset per feature
    layer = np.lib.format.open_memmap(folder / "layer.npy", mode="w+", dtype=np.float32, shape=(n, d))
    for s in range(0, n, 250):
        e = min(n, s + 250)
        layer[s:e] = latent[s:e] @ loadings + rng.standard_normal((e - s, d), dtype=np.float32) + offset
    layer.flush()
    del layer
    np.save(folder / "rating.npy", latent[:, 0].astype(np.float64) + rng.standard_normal(n))


def peak_mib() -> float:
    """ru_maxrss of this process in MiB. Linux carries the parent's RSS at fork into a child's ru_maxrss,
    so the parent process stays small (the data are written by a worker too)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker_psychoface(folder: Path, n_perm: int, n_check: int, bootstrap: int, method: str) -> dict:
    import pandas as pd

    from psychoface.analyses import kendall
    from psychoface.analyses.rdm import layer_rdm, rating_rdm
    from psychoface.analyses.mantel import mantel_null as _mantel_null
    from psychoface.analyses.mantel import standardise as _standardise
    from psychoface.analyses.rsa import _bootstrap_cross, rsa

    X = np.load(folder / "layer.npy", mmap_mode="r")
    ids = [str(i) for i in range(X.shape[0])]
    t0 = time.perf_counter()
    layer = layer_rdm(X, ids, name="layer")
    t_rdm = time.perf_counter() - t0
    rating = rating_rdm(pd.DataFrame({"rating": np.load(folder / "rating.npy")}, index=ids), "rating")
    t1 = time.perf_counter()
    df = rsa(layer, rating, method=method, n_permutations=n_perm, n_bootstrap=0, seed=SEED)
    t_rsa = time.perf_counter() - t1
    stat = "tau" if method == "tau-a" else "rho"
    out = {
        "rdm_s": t_rdm, "rsa_s": t_rsa, "total_s": t_rdm + t_rsa, "rho": float(df[stat][0]),
        "p": float(df.p[0]), "peak_mib": peak_mib(), "rdm_head": layer.dissimilarities[:1000].tolist(),
    }
    perm_ss, boot_ss = np.random.SeedSequence(SEED).spawn(2)  # rsa's permutation and bootstrap streams
    if method == "tau-a":
        x, fixed, kind = layer.dissimilarities, [kendall.TauFixed(rating.dissimilarities, len(ids))], "tau-a"
    else:
        z = [_standardise(r.dissimilarities, method) for r in (layer, rating)]
        x, fixed, kind = z[0], [z[1]], "standardised"
    out["null_head"] = _mantel_null(x, fixed, kind, n_check, perm_ss)[:, 0].tolist()
    if bootstrap:
        t2 = time.perf_counter()
        boot = rsa(layer, rating, method=method, n_permutations=0, n_bootstrap=bootstrap, seed=SEED)
        out["bootstrap_s"] = time.perf_counter() - t2
        out["bootstrap_peak_mib"] = peak_mib()
        out["ci"] = [float(boot.ci_low[0]), float(boot.ci_high[0])]
        out["boot_head"] = _bootstrap_cross(  # rsa's first n_check resamples
            [layer.dissimilarities], [rating.dissimilarities], method, len(ids), n_check,
            np.random.default_rng(boot_ss),
        )[:, 0, 0].tolist()
    return out


def worker_rsatoolbox(folder: Path, n_perm: int, n_sub: int, bootstrap: int, method: str) -> dict:
    import rsatoolbox
    from rsatoolbox.inference import eval_bootstrap_pattern
    from rsatoolbox.model import ModelFixed

    t0 = time.perf_counter()
    X = np.load(folder / "layer.npy").astype(np.float64)
    index = {"index": np.arange(X.shape[0])}  # the pattern descriptor the pattern bootstrap resamples
    layer = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(X, obs_descriptors=index), method="correlation")
    t_rdm = time.perf_counter() - t0
    del X
    rating = rsatoolbox.rdm.calc_rdm(
        rsatoolbox.data.Dataset(np.load(folder / "rating.npy")[:, None], obs_descriptors=index), method="euclidean"
    )
    t1 = time.perf_counter()
    rho = float(rsatoolbox.rdm.compare(layer, rating, method=method)[0, 0])
    rng = np.random.default_rng(np.random.SeedSequence(SEED).spawn(2)[0])  # the same permutations
    null = []
    for _ in range(n_sub):
        permuted = layer.copy()
        permuted.reorder(rng.permutation(layer.n_cond))
        null.append(float(rsatoolbox.rdm.compare(permuted, rating, method=method)[0, 0]))
    t_loop = time.perf_counter() - t1
    t_rsa = t_loop / n_sub * n_perm  # extrapolated (the observed comparison is negligible)
    out = {
        "rdm_s": t_rdm, "rsa_s": t_rsa, "total_s": t_rdm + t_rsa, "rho": rho, "peak_mib": peak_mib(),
        "measured_permutations": n_sub, "measured_loop_s": t_loop, "null_head": null,
        "rdm_head": layer.get_vectors()[0][:1000].tolist(),
    }
    if bootstrap:
        np.random.seed(SEED)  # rsatoolbox draws resamples from numpy's global state
        t2 = time.perf_counter()
        eval_bootstrap_pattern(ModelFixed("layer", layer), rating, method=method, N=n_sub, boot_noise_ceil=False)
        out["measured_boot_s"] = time.perf_counter() - t2
        out["bootstrap_s"] = out["measured_boot_s"] / n_sub * bootstrap  # extrapolated
        rng = np.random.default_rng(np.random.SeedSequence(SEED).spawn(2)[1])  # psychoface's resamples
        out["boot_head"] = []
        for _ in range(n_sub):
            idx = rng.integers(0, layer.n_cond, layer.n_cond)
            resampled = [r.subsample_pattern("index", idx) for r in (layer, rating)]
            out["boot_head"].append(float(rsatoolbox.rdm.compare(*resampled, method=method)[0, 0]))
        out["peak_mib"] = peak_mib()
    return out


def run_worker(kind: str, folder: Path, args, n: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--folder", str(folder), "--n", str(n),
           "--features", str(args.features), "--permutations", str(args.permutations),
           "--bootstrap", str(args.bootstrap), "--subset", str(args.subset or (100 if n <= 500 else 10)),
           "--method", args.method]
    env = {**os.environ, **{v: str(args.threads) for v in THREAD_VARS},
           "NUMBA_NUM_THREADS": str(args.numba_threads)}
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--features", type=int, default=N_FEATURES)
    parser.add_argument("--permutations", type=int, default=10_000)
    parser.add_argument("--subset", type=int, default=0,
                        help="baseline permutations (and resamples) actually timed; default 100, 10 above 500 stimuli")
    parser.add_argument("--bootstrap", type=int, default=0, help="also time a CI with this many resamples, e.g. 5000")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads in both workers")
    parser.add_argument("--numba-threads", type=int, default=os.cpu_count(),
                        help="threads of psychoface's compiled tau-a and bootstrap (rsatoolbox has none)")
    parser.add_argument("--method", choices=["spearman", "tau-a"], default="spearman",
                        help="RDM comparison on both sides (rank-based: rsatoolbox's rating RDM is squared differences)")
    parser.add_argument("--worker", choices=["data", "psychoface", "rsatoolbox"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if args.worker == "data":
            make_data(args.folder, args.n, args.features)
            result = {}
        elif args.worker == "psychoface":
            result = worker_psychoface(args.folder, args.permutations, args.subset, args.bootstrap, args.method)
        else:
            result = worker_rsatoolbox(args.folder, args.permutations, args.subset, args.bootstrap, args.method)
        print(json.dumps(result))
        return
    print(f"RSA benchmark: {args.features:,} features (random float32), one rating RDM, {args.method}, "
          f"{args.permutations:,} permutations; {args.threads} BLAS thread(s) in both, {args.numba_threads} "
          f"compiled (numba) thread(s) in psychoface; load average {os.getloadavg()}")
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            run_worker("data", folder, args, n)
            ours = run_worker("psychoface", folder, args, n)
            base = run_worker("rsatoolbox", folder, args, n)
            k = base["measured_permutations"]
            rdm_diff = np.max(np.abs(np.subtract(ours["rdm_head"], base["rdm_head"])))
            null_diff = np.max(np.abs(np.subtract(ours["null_head"], base["null_head"])))
            print(f"\nn = {n:,} stimuli")
            print(f"  psychoface: RDM {ours['rdm_s']:.1f} s + RSA {ours['rsa_s']:.1f} s = {ours['total_s']:.1f} s; "
                  f"peak {ours['peak_mib']:.0f} MiB; rho = {ours['rho']:.6f}, p = {ours['p']:.4f}")
            print(f"  rsatoolbox: RDM {base['rdm_s']:.1f} s + permutations {base['rsa_s']:.1f} s "
                  f"(extrapolated from {k} permutations timed, {base['measured_loop_s']:.1f} s) = "
                  f"{base['total_s']:.1f} s; peak {base['peak_mib']:.0f} MiB; rho = {base['rho']:.6f}")
            print(f"  speed-up: total {base['total_s'] / ours['total_s']:.1f}x (RDM {base['rdm_s'] / ours['rdm_s']:.1f}x, "
                  f"permutations {base['rsa_s'] / ours['rsa_s']:.1f}x); memory ratio "
                  f"{base['peak_mib'] / ours['peak_mib']:.1f}x")
            print(f"  same values: |rho difference| = {abs(ours['rho'] - base['rho']):.1e}; max |RDM difference| "
                  f"(first 1,000 pairs) = {rdm_diff:.1e}; max |permuted rho difference| over the {k} shared "
                  f"permutations = {null_diff:.1e}")
            if args.bootstrap:
                boot_diff = np.max(np.abs(np.subtract(ours["boot_head"], base["boot_head"])))
                print(f"  bootstrap CI ({args.bootstrap:,} resamples): psychoface {ours['bootstrap_s']:.1f} s "
                      f"[{ours['ci'][0]:.4f}, {ours['ci'][1]:.4f}]; rsatoolbox eval_bootstrap_pattern "
                      f"{base['bootstrap_s']:.1f} s (extrapolated from {k} resamples timed, "
                      f"{base['measured_boot_s']:.1f} s); speed-up {base['bootstrap_s'] / ours['bootstrap_s']:.1f}x; "
                      f"max |resampled rho difference| over {k} shared resamples = {boot_diff:.1e}; psychoface peak "
                      f"after the bootstrap {ours['bootstrap_peak_mib']:.0f} MiB")
            print(f"  load average after n = {n:,}: {os.getloadavg()}")


if __name__ == "__main__":
    main()
