"""Benchmark: representation geometry at the sizes of issue 12 (2 shared cores, one BLAS thread each case).

Cases (each in its own subprocess; peak memory is that process's ``ru_maxrss``):

- ``karcher``: Fréchet mean and distinctiveness of 500 faces x 100,352 features (a float32 memory map,
  read in chunks): ``sphere.distinctiveness`` (Gram matrix, span coordinates, vectorised Karcher mean, the
  open-hemisphere check). Goal: under 5 s.
- ``group``: 10,000 faces x 4,096 features, two groups, the tangent-space group test with 10,000
  permutations (``sphere.group_mean_test(method="tangent")``). Goal: under 2 min. Run again with 1,000
  permutations: peak memory must not grow with the permutations. The exact test's p and the tangent test's
  p are also compared on the first 1,000 faces (1,000 permutations each).
- ``riemannian``: Riemannian RSA (affine-invariant, scale free, no shrinkage so that the statistic is
  rsatoolbox's) of two 500-stimulus layers (4,096 and 2,048 features) with 1,000 permutations. Goal:
  under 5 min. Run again with 100 permutations for the memory check. Baseline: rsatoolbox 0.3's
  ``neg_riem_dist`` on ``calc_rdm(..., "euclidean")`` RDMs, looping over permutations (``reorder``).
  Its public ``compare(..., method="neg_riem_dist")`` cannot run at 500 stimuli: it builds a dense
  (m x m) transform over the m = 124,750 pairs (it asks numpy for 115 GiB). The loop therefore calls
  its ``_riemannian_distance`` (the Nelder-Mead fit of the scale, ``sigma_k = 0``: psychoface's
  scale-free affine-invariant distance) on the second moments that transform would give, built from
  the contrast matrix directly; timed on a few permutations and extrapolated linearly to 1,000, its
  values checked against psychoface's for the same permutations.

    .venv/bin/python benchmarks/geometry.py              # every case
    .venv/bin/python benchmarks/geometry.py --case karcher
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
import warnings
from pathlib import Path

import numpy as np

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _relu_layer(path: Path, n: int, d: int, seed: int) -> np.ndarray:
    """A ReLU-like float32 layer with a 5-dimensional latent structure, written to a .npy memory map."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 5)).astype(np.float32)
    loadings = rng.standard_normal((5, d), dtype=np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    for s in range(0, n, 500):
        block = latent[s : s + 500] @ loadings + rng.standard_normal((len(latent[s : s + 500]), d), dtype=np.float32)
        out[s : s + 500] = np.maximum(block, 0)
    out.flush()
    return latent


def case_karcher(folder: Path) -> dict:
    from psychoface.analyses.geometry.sphere import distinctiveness

    X = np.load(folder / "karcher.npy", mmap_mode="r")
    ids = [f"s{i}" for i in range(X.shape[0])]
    t = time.perf_counter()
    df = distinctiveness(X, ids, "conv5")
    return {"seconds": time.perf_counter() - t, "iterations": df.attrs["psychoface"]["karcher_iterations"],
            "open_hemisphere": df.attrs["psychoface"]["open_hemisphere"],
            "mean_distinctiveness": float(df["distinctiveness"].mean())}


def case_group(folder: Path, n_permutations: int) -> dict:
    from psychoface.analyses.geometry.sphere import group_mean_test

    X = np.load(folder / "group.npy", mmap_mode="r")
    labels = np.load(folder / "group_labels.npy")
    ids = [f"s{i}" for i in range(X.shape[0])]
    t = time.perf_counter()
    df = group_mean_test(X, labels, ids, method="tangent", n_permutations=n_permutations)
    out = {"seconds": time.perf_counter() - t, **{k: df.loc[0, k] for k in ("distance", "distance_tangent", "p")}}
    if n_permutations == 10_000:
        sub = np.asarray(X[:1000])
        t = time.perf_counter()
        exact = group_mean_test(sub, labels[:1000], ids[:1000], method="exact", n_permutations=1000)
        out["exact_1000_seconds"] = time.perf_counter() - t
        tangent = group_mean_test(sub, labels[:1000], ids[:1000], method="tangent", n_permutations=1000)
        out.update({"exact_1000_p": exact.loc[0, "p"], "tangent_1000_p": tangent.loc[0, "p"],
                    "exact_1000_distance": exact.loc[0, "distance"],
                    "tangent_1000_distance": exact.loc[0, "distance_tangent"]})
    return {k: float(v) for k, v in out.items()}


def case_riemannian(folder: Path, n_permutations: int, baseline: int) -> dict:
    from psychoface.analyses.geometry.riemannian import riemannian_rsa
    from psychoface.analyses.geometry.span import permutation_blocks

    A, B = np.load(folder / "riem_a.npy"), np.load(folder / "riem_b.npy")
    ids = [f"s{i}" for i in range(A.shape[0])]
    t = time.perf_counter()
    df = riemannian_rsa({"a": A, "b": B}, ids, shrinkage=0.0, n_permutations=n_permutations, seed=0)
    out = {"seconds": time.perf_counter() - t, "distance": float(df.loc[0, "distance"]),
           "z": float(df.loc[0, "z"]), "p": float(df.loc[0, "p"])}
    if baseline:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import rsatoolbox
            from rsatoolbox.rdm import calc_rdm
            from rsatoolbox.rdm.compare import _riemannian_distance
        from scipy.spatial.distance import squareform

        n = A.shape[0]
        rdm_a = calc_rdm(rsatoolbox.data.Dataset(A.astype(np.float64)), method="euclidean")
        rdm_b = calc_rdm(rsatoolbox.data.Dataset(B.astype(np.float64)), method="euclidean")
        C = np.block([-np.ones((n - 1, 1)), np.eye(n - 1)])  # rsatoolbox's contrast matrix

        def vec_g(rdm):
            """rsatoolbox's vectorised second moment (its T transform, written without the dense T)."""
            G = -0.5 * C @ rdm.get_matrices()[0] @ C.T
            return np.concatenate([np.diag(G), squareform(G - np.diag(np.diag(G)), checks=False)])

        perms = next(permutation_blocks(0, n, baseline))
        zero = np.zeros((n - 1, n - 1))
        t = time.perf_counter()
        vb = vec_g(rdm_b)
        observed = -_riemannian_distance(vec_g(rdm_a), vb, zero)
        theirs = []
        for perm in perms:
            rdm_p = rdm_a.copy()
            rdm_p.reorder(perm)
            theirs.append(-_riemannian_distance(vec_g(rdm_p), vb, zero))
        each = (time.perf_counter() - t) / (baseline + 1)
        ours = riemannian_rsa({"a": A, "b": B}, ids, shrinkage=0.0, n_permutations=baseline, seed=0)
        from psychoface.analyses.geometry.riemannian import _null_affine, helmert_basis, second_moment
        SA, _ = second_moment(A, ids, shrinkage=0.0)
        SB, _ = second_moment(B, ids, shrinkage=0.0)
        null = _null_affine(SA, SB, helmert_basis(n), perms, "free")
        out.update({"rsatoolbox_seconds_each": each, "rsatoolbox_extrapolated": each * (n_permutations + 1),
                    "rsatoolbox_permutations_timed": baseline,
                    "abs_diff_observed": abs(observed - float(ours.loc[0, "distance"])),
                    "max_rel_diff_permuted": float(np.max(np.abs(np.array(theirs) - null) / null))})
    return out


def run_case(args: list[str], threads: int) -> dict:
    env = dict(os.environ, **{v: str(threads) for v in THREAD_VARS})
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, __file__, "--child", *args], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["karcher", "group", "riemannian", "all"], default="all")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--baseline", type=int, default=5, help="rsatoolbox permutations timed (0: none)")
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    if args.child is not None:
        name, folder, *rest = args.child
        folder = Path(folder)
        result = {"karcher": lambda: case_karcher(folder),
                  "group": lambda: case_group(folder, int(rest[0])),
                  "riemannian": lambda: case_riemannian(folder, int(rest[0]), int(rest[1]))}[name]()
        result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = ["karcher", "group", "riemannian"] if args.case == "all" else [args.case]
        if "karcher" in cases:
            _relu_layer(folder / "karcher.npy", 500, 100_352, 1)
            print("karcher, 500 x 100,352:", run_case(["karcher", tmp], args.threads), flush=True)
        if "group" in cases:
            latent = _relu_layer(folder / "group.npy", 10_000, 4_096, 2)
            np.save(folder / "group_labels.npy", np.where(latent[:, 0] > 0, "high", "low"))
            for n_perm in (1_000, 10_000):
                print(f"group, 10,000 x 4,096, {n_perm:,} permutations:",
                      run_case(["group", tmp, str(n_perm)], args.threads), flush=True)
        if "riemannian" in cases:
            latent = _relu_layer(folder / "riem_a.npy", 500, 4_096, 3)
            rng = np.random.default_rng(4)
            B = np.maximum(latent @ rng.standard_normal((5, 2048)) + 2 * rng.standard_normal((500, 2048)), 0)
            np.save(folder / "riem_b.npy", B.astype(np.float32))
            print("riemannian, 500 stimuli, 100 permutations:",
                  run_case(["riemannian", tmp, "100", "0"], args.threads), flush=True)
            print("riemannian, 500 stimuli, 1,000 permutations:",
                  run_case(["riemannian", tmp, "1000", str(args.baseline)], args.threads), flush=True)


if __name__ == "__main__":
    main()
